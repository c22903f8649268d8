#!/usr/bin/env bash
# The main job: the bundled example built with a registry cache, cold and then warm, each on a
# wiped builder (what an ephemeral CI runner starts with), printing the cache statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh start
eval "$(bash scripts/engine.sh env)"
cargo build --release --locked --quiet
# CARGO_TARGET_DIR moves the build output; the binary is where cargo put it.
regcache=${CARGO_TARGET_DIR:-target}/release/regcache
repo=$REGCACHE_REGISTRY/demo/app
cache_ref=$repo:buildcache-$(date +%s)   # a new ref each run, so the first build really is cold
out=$(mktemp -d)

wipe() {
  docker buildx prune -af >/dev/null
  docker image rm -f $(docker images -aq) >/dev/null 2>&1 || true
  docker image prune -af >/dev/null
}

for run in cold warm; do
  wipe
  echo "=== $run build on a wiped builder (cache ref $cache_ref)"
  "$regcache" build --tag "$repo:dev" --cache-ref "$cache_ref" --network none \
    --output-format json --output-file "$out/$run.json" example
done

echo
echo "=== cache statistics"
python3 - "$out" <<'PY'
import json, sys
print(f"{'build':6} {'cached/total':>12} {'ratio':>6} {'cache-hit':>9} {'import s':>9} {'export s':>9} {'build s':>8} {'cache bytes':>11}  refs found / missing")
for run in ("cold", "warm"):
    o = json.load(open(f"{sys.argv[1]}/{run}.json"))
    print(f"{run:6} {o['cached-steps'] + '/' + o['total-steps']:>12} {o['cache-hit-ratio']:>6} {o['cache-hit']:>9} "
          f"{o['cache-import-seconds']:>9} {o['cache-export-seconds']:>9} {o['build-seconds']:>8} {o['cache-size']:>11}  "
          f"{o['cache-refs-found'] or '-'} / {o['cache-refs-missing'] or '-'}")
PY
echo
echo "=== the cache in the registry"
"$regcache" inspect "$cache_ref"
echo
echo "=== every layer of it downloaded, decompressed and checked"
"$regcache" verify --deep "$cache_ref"
echo
echo "=== what prune would delete in the demo repository (a dry run)"
"$regcache" prune "${cache_ref%:*}" --older-than 14d --default-branch main
