"""Drives bench/run.sh: see there. Prints a table; no pass/fail, the numbers are the result."""

import json, os, statistics, sys, tempfile, time

from common import sh, timed, wipe

RUNS = int(sys.argv[1])
REGCACHE = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache"))
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

# 1b. The cost of a longer read chain: the same warm build as a GitHub push to main (chain:
# main, 1 ref) and as a pull request from a same-repository branch (chain: pr-1, its head
# branch, its base, main: 4 refs), every ref existing (copies of the same cache manifest), so
# each extra ref costs a probe HEAD and BuildKit's manifest and config fetch.
import urllib.request
CHAIN_REPO = f"{REPO}-chain-{int(time.time())}"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
path = CACHE_REF.split("/", 1)[1].rsplit(":", 1)
with urllib.request.urlopen(urllib.request.Request(f"http://{REGISTRY}/v2/{path[0]}/manifests/{path[1]}", headers={"Accept": ACCEPT})) as r:
    manifest, media_type = r.read(), r.headers["Content-Type"]
chain_path = CHAIN_REPO.split("/", 1)[1]
for tag in ("buildcache-main", "buildcache-pr-1", "buildcache-feature", "buildcache-develop"):
    # The blobs are mounted from the first repository so the copies are whole caches.
    for blob in [json.loads(manifest)["config"]["digest"]] + [l["digest"] for l in json.loads(manifest)["layers"]]:
        urllib.request.urlopen(urllib.request.Request(f"http://{REGISTRY}/v2/{chain_path}/blobs/uploads/?mount={blob}&from={path[0]}", method="POST")).close()
    urllib.request.urlopen(urllib.request.Request(f"http://{REGISTRY}/v2/{chain_path}/manifests/{tag}", data=manifest, method="PUT", headers={"Content-Type": media_type})).close()
repo_facts = {"full_name": "example/app", "default_branch": "main", "private": True}
events = {
    "push": ("push", "refs/heads/main", {"ref": "refs/heads/main", "repository": repo_facts}),
    "pr": ("pull_request", "refs/pull/1/merge", {"number": 1, "repository": repo_facts, "pull_request": {"number": 1, "head": {"ref": "feature", "sha": "0" * 40, "repo": {"full_name": "example/app", "fork": False}}, "base": {"ref": "develop", "repo": repo_facts}}}),
}
chain = {"1 ref": [], "4 refs": []}
chain_env = {}
for label, (name, ref, body) in zip(chain, events.values()):
    event_path = os.path.join(WORK, f"{name}.json")
    with open(event_path, "w") as f:
        json.dump(body, f)
    chain_env[label] = dict(os.environ, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME=name, GITHUB_REF=ref, GITHUB_EVENT_PATH=event_path, GITHUB_REPOSITORY="example/app", GITHUB_RUN_ID="1", GITHUB_RUN_ATTEMPT="1", BUILDX_NO_DEFAULT_ATTESTATIONS="1", RUNNER_TEMP=WORK)
chain_argv = [REGCACHE, "build", "--tag", f"{CHAIN_REPO}:dev", "--network", "none", "--cache-ref", CHAIN_REPO, "example"]
for i in range(RUNS):
    for label in (list(chain) if i % 2 == 0 else list(reversed(chain))):
        wipe()
        chain[label].append(timed(chain_argv, env=chain_env[label]))
print(f"\nread chain, {RUNS} runs each, wiped builder, interleaved; every ref exists")
for label, runs in chain.items():
    walls = [r[0] for r in runs]
    print(f"{label:10} median wall {statistics.median(walls):.3f} s (min {min(walls):.2f}, max {max(walls):.2f})")
one, four = (statistics.median(r[0] for r in chain[k]) for k in chain)
print(f"4 refs against 1: {four / one:.3f}x, {(four - one) * 1000 / 3:.0f} ms per extra ref")

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
