#!/usr/bin/env bash
# Benchmarks, measured in one run on this machine:
#  1. warm path: `regcache build` against the bare `docker buildx build` with identical flags,
#     both on a wiped builder importing the same registry cache; runs interleaved;
#     wall time and peak RSS (GNU time, largest process of the tree) with their ratios.
#  2. parsing a 100 MB rawjson stream: throughput and peak RSS of `regcache stats`.
#  3. an event trace (bench/trace.py): cached steps, build time and cache pollution of four
#     cache strategies over the same CI events.
#  4. `verify --deep` throughput against sha256sum over the same uncompressed bytes, and its
#     peak RSS (bench/verify.py).
#  5. the daemonless warm path: `regcache build --engine buildah` against the bare `buildah
#     build` with the same cache flags, each on new storage (bench/buildah.py).
#  6. build records: the example's warm path with and without them, and hashing a 1 GiB
#     context against sha256sum (bench/record.py).
#  7. the export that adds nothing and builds at the size of a real service (bench/scale.py):
#     a 3-stage build's warm path against bare buildx, 10 interleaved pairs, with the cache
#     tag's digest; a generated 38-step service cold, warm, one source file and one dependency
#     changed, against bare buildx, build-push-action and a builder that kept its own cache
#     (2 runs each: the part takes 8 minutes); compression and mode; the cache's cost as it
#     grows to 1 GB and 100 steps.
#  8. bake's warm path (bench/bake.py): `regcache bake` against bare `docker buildx bake` with
#     the same cache sets, and the read-only floor, for the two-target example and a generated
#     pair of services (100 MB base layer, 24 steps per target); 3 interleaved runs each.
# usage: bench/run.sh [--quick] [RUNS]   (default 5 of each, scale.py 2; --quick: bench/scale.py
# only, smaller). BPA_INDEX=<build-push-action's released dist/index.cjs> adds it to scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=
if [ "${1:-}" = --quick ]; then quick=--quick; shift; fi
runs=${1:-5}
command -v /usr/bin/time >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
bash scripts/engine.sh start
eval "$(bash scripts/engine.sh env)"
cargo build --release --locked --quiet
if [ -n "$quick" ]; then
  python3 bench/scale.py --quick 3
  exit
fi
python3 bench/bench.py "$runs"
python3 bench/trace.py
python3 bench/verify.py
python3 bench/buildah.py "$runs"
python3 bench/record.py "$runs"
python3 bench/scale.py 2
python3 bench/bake.py 3
