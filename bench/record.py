"""What build records cost, measured in one run.

1. The warm path of the bundled example with `build-record: true` (the record read, the context
   hashed, the misses explained, the record written) against `build-record: false`, each on a
   wiped builder importing the same registry cache, runs interleaved (goal: at most 1.03x).
2. Hashing a 1 GiB context (1,024 files of 1 MiB of random bytes, `COPY . /ctx`):
   `regcache explain` against a stored record, which reads the record and hashes every file
   the COPY takes, against `sha256sum` over the same files on as many processes as regcache
   has threads (goal: at least 500 MB/s), with regcache's peak RSS, which must not grow with
   the context.
usage: python3 bench/record.py [RUNS]
"""

import os, shutil, statistics, subprocess, sys, tempfile, time

from common import sh, timed, wipe

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
registry = os.environ["REGCACHE_REGISTRY"]
binary = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache"))
repo = f"{registry}/bench/record-{time.time_ns()}"
cache_ref = f"{repo}:buildcache"


def build(record):
    return [binary, "build", "--tag", f"{repo}:dev", "--network", "none", "--cache-ref", cache_ref,
            f"--build-record={record}", "example"]


wipe()
timed(build("true"))  # the cold build that creates the cache and its record
results = {"false": [], "true": []}
for i in range(runs):
    for record in (["false", "true"] if i % 2 == 0 else ["true", "false"]):
        wipe()
        results[record].append(timed(build(record)))
print(f"\nbuild records on the warm path of the example, {runs} runs each, wiped builder, interleaved")
for record in ("false", "true"):
    walls = [r[0] for r in results[record]]
    print(f"build-record: {record:5} median wall {statistics.median(walls):.3f} s (min {min(walls):.2f}, max {max(walls):.2f}), "
          f"peak RSS {statistics.median(r[1] for r in results[record]) / 1024:.1f} MiB")
off, on = (statistics.median(r[0] for r in results[k]) for k in ("false", "true"))
print(f"ratio with records / without: {on / off:.3f}x")

with tempfile.TemporaryDirectory() as work:
    context = os.path.join(work, "context")
    os.makedirs(context)
    files = 1024
    for i in range(files):
        with open(os.path.join(context, f"blob-{i:04}.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write(f"FROM {registry}/base/busybox:1\nCOPY . /ctx\n")
    log = os.path.join(work, "build.rawjson")
    with open(log, "w") as f:
        f.write('{"vertexes":[{"digest":"sha256:a","name":"[2/2] COPY . /ctx","started":"2026-12-05T00:00:00Z","completed":"2026-12-05T00:00:01Z"}]}\n')
    size = sum(os.path.getsize(os.path.join(context, n)) for n in os.listdir(context))
    explain = [binary, "explain", cache_ref, "--log", log, "--context", context]
    threads = min(os.cpu_count() or 1, 4)
    floor = ["sh", "-c", f"cd {context} && ls | xargs -P {threads} -n 64 sha256sum > /dev/null"]
    timed(explain)  # the files into the page cache, as a checkout leaves them
    measured = {"regcache explain": [], "sha256sum": []}
    for i in range(runs):
        measured["regcache explain"].append(timed(explain))
        measured["sha256sum"].append(timed(floor))
    print(f"\nhashing a {size / 2**30:.2f} GiB context ({files} files of 1 MiB, random), {runs} runs each, files in the page cache")
    for name, rows in measured.items():
        wall = statistics.median(r[0] for r in rows)
        print(f"{name:17} median {wall:.2f} s = {size / 1e6 / wall:.0f} MB/s, peak RSS {statistics.median(r[1] for r in rows) / 1024:.1f} MiB")
    ours, theirs = (statistics.median(r[0] for r in measured[k]) for k in measured)
    print(f"throughput regcache / sha256sum ({threads} processes): {theirs / ours:.3f}x")
