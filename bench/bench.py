"""Drives bench/run.sh: see there. Prints a table; no pass/fail, the numbers are the result."""

import json, os, statistics, sys, tempfile, time

from common import sh, timed, wipe

RUNS = int(sys.argv[1])
REGCACHE = os.path.abspath("target/release/regcache")
REGISTRY = os.environ["REGCACHE_REGISTRY"]
REPO = f"{REGISTRY}/bench/app"
CACHE_REF = f"{REPO}:buildcache-{int(time.time())}"
WORK = tempfile.mkdtemp(prefix="regcache-bench-")


# The same flags regcache passes (src/plan.rs), for the bare engine.
BARE = [
    "docker", "buildx", "build", "--progress=rawjson",
    "--metadata-file", f"{WORK}/bare-metadata.json", "--iidfile", f"{WORK}/bare-iid",
    "--tag", f"{REPO}:dev", "--network", "none",
    "--cache-from", f"type=registry,ref={CACHE_REF}",
    "--cache-to", f"type=registry,ref={CACHE_REF},mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true",
    "example",
]
REGCACHE_ARGV = [REGCACHE, "build", "--tag", f"{REPO}:dev", "--network", "none", "--cache-ref", CACHE_REF, "example"]

wipe()
timed(REGCACHE_ARGV)  # the cold build that creates the cache
results = {"bare": [], "regcache": []}
for i in range(RUNS):
    order = ["bare", "regcache"] if i % 2 == 0 else ["regcache", "bare"]
    for name in order:
        wipe()
        results[name].append(timed(BARE if name == "bare" else REGCACHE_ARGV))

def med(name, k):
    return statistics.median(r[k] for r in results[name])

print(f"warm path, {RUNS} runs each, wiped builder before every run, interleaved")
print(f"{'':10} {'median wall s':>14} {'min':>6} {'max':>6} {'median peak RSS MiB':>20}")
for name in ("bare", "regcache"):
    walls = [r[0] for r in results[name]]
    print(f"{name:10} {med(name, 0):>14.3f} {min(walls):>6.2f} {max(walls):>6.2f} {med(name, 1) / 1024:>20.1f}")
print(f"ratio regcache/bare: wall {med('regcache', 0) / med('bare', 0):.3f}x, peak RSS {med('regcache', 1) / med('bare', 1):.3f}x")

# 2. A 100 MB rawjson stream: many vertices, each announced, started, completed, with
# statuses and base64 logs, in buildx 0.15's one-object-per-line layout.
path = os.path.join(WORK, "100mb.rawjson")
target = 100 * 1000 * 1000
written, n = 0, 0
log = "aGVsbG8gZnJvbSBhIGJ1aWxkIHN0ZXAgdGhhdCBwcmludHMgYSBsb3QK" * 20
with open(path, "w") as f:
    while written < target:
        d = f"sha256:{n % 5000:064x}"
        name = f"[stage-{n % 7} {n % 9 + 1}/9] RUN step {n % 5000}"
        objs = [
            {"vertexes": [{"digest": d, "name": name}]},
            {"vertexes": [{"digest": d, "name": name, "started": "2026-11-22T06:27:26.142944646Z"}]},
            {"statuses": [{"id": f"writing layer sha256:{n:064x}", "vertex": d, "current": 512, "total": 1024, "timestamp": "2026-11-22T06:27:26.153777103Z", "started": "2026-11-22T06:27:26.153776161Z"}]},
            {"logs": [{"vertex": d, "stream": 1, "data": log, "timestamp": "2026-11-22T06:27:26.2Z"}]},
            {"vertexes": [{"digest": d, "name": name, "started": "2026-11-22T06:27:26.142944646Z", "completed": "2026-11-22T06:27:27.0Z", "cached": n % 3 == 0}]},
        ]
        chunk = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objs)
        f.write(chunk)
        written += len(chunk)
        n += 1
size = os.path.getsize(path)
wall, rss = timed([REGCACHE, "stats", path])
print(f"\nparse: {size / 1e6:.1f} MB rawjson ({n * 5} objects) in {wall:.2f} s = {size / 1e6 / wall:.0f} MB/s, peak RSS {rss / 1024:.1f} MiB")
print(f"stats line: {sh(REGCACHE, 'stats', path).strip()}")
os.remove(path)

# 3. Hostile shapes of the same size: 100 MB as one object (a single log entry), and as 100
# lines of 1 MB plain text with no newline inside. Both must parse in linear time and bounded
# memory (the reader keeps at most one object or line of 64 MiB).
import base64
one = os.path.join(WORK, "one-object.rawjson")
data = base64.b64encode(b"x" * 75_000_000).decode()
with open(one, "w") as f:
    f.write('{"vertexes":[{"digest":"sha256:a","name":"[build 1/1] RUN big","started":"2026-11-22T06:27:26Z","completed":"2026-11-22T06:27:27Z"}]}\n')
    f.write('{"logs":[{"vertex":"sha256:a","stream":1,"data":"' + data + '","timestamp":"2026-11-22T06:27:26Z"}]}\n')
lines = os.path.join(WORK, "long-lines.plain")
with open(lines, "w") as f:
    f.write("#1 [build 1/1] RUN big\n")
    for _ in range(100):
        f.write("#1 " + "y" * 1_000_000 + "\n")
    f.write("#1 DONE 1.0s\n")
for label, p in (("one 100 MB object", one), ("100 lines of 1 MB", lines)):
    size = os.path.getsize(p)
    wall, rss = timed([REGCACHE, "stats", p])
    print(f"hostile parse, {label}: {size / 1e6:.1f} MB in {wall:.2f} s = {size / 1e6 / wall:.0f} MB/s, peak RSS {rss / 1024:.1f} MiB")
    os.remove(p)
