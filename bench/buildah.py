"""The daemonless warm path: `regcache build --engine buildah` against the bare `buildah build`
with the same cache flags, each on new storage (an ephemeral runner) pulling every step from
the same registry cache; runs interleaved. Prints medians of wall time and peak RSS, and the
ratios. usage: python3 bench/buildah.py [RUNS]"""

import json, os, shutil, statistics, subprocess, sys, tempfile

from common import sh, timed

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
regcache = os.path.join(target, "release", "regcache")
registry = os.environ["REGCACHE_REGISTRY"]
base = os.environ["REGCACHE_BASE_IMAGE"]
repo = f"{registry}/bench/buildah-{os.getpid()}"
cache = f"{repo}/buildcache"
example = os.path.join(root, "example")


def storage():
    """A new storage directory and the environment that points buildah at it."""
    d = tempfile.mkdtemp(prefix="regcache-bench-buildah-")
    with open(os.path.join(d, "storage.conf"), "w") as f:
        f.write(f'[storage]\ndriver = "vfs"\ngraphroot = "{d}/root"\nrunroot = "{d}/run"\n')
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=f"{d}/storage.conf", BUILDAH_ISOLATION="chroot")
    return d, env


bare = ["buildah", "build", "--layers", "--cache-from", cache, "--cache-to", cache, "--tls-verify=false",
        "--tag", f"{repo}:dev", "--build-arg", f"BASE={base}", example]
ours = [regcache, "build", "--engine", "buildah", "--cache-ref", f"{cache.rsplit('/', 1)[0]}:buildcache",
        "--cache-policy", "shared", "--tag", f"{repo}:dev", "--build-arg", f"BASE={base}", example]

# The cache, written once.
d, env = storage()
subprocess.run(ours, env=env, check=True, capture_output=True)
shutil.rmtree(d)

times = {"buildah": [], "regcache": []}
rss = {"buildah": [], "regcache": []}
for _ in range(runs):
    for name, argv in (("buildah", bare), ("regcache", ours)):
        d, env = storage()
        wall, kib = timed(argv, env=env)
        shutil.rmtree(d)
        times[name].append(wall)
        rss[name].append(kib)

med = {k: statistics.median(v) for k, v in times.items()}
mem = {k: statistics.median(v) for k, v in rss.items()}
print(json.dumps({
    "runs": runs,
    "warm buildah build s (median)": med["buildah"],
    "warm regcache --engine buildah s (median)": med["regcache"],
    "time ratio regcache/buildah": round(med["regcache"] / med["buildah"], 3),
    "peak RSS KiB buildah": mem["buildah"],
    "peak RSS KiB regcache (its own process tree's largest)": mem["regcache"],
}, indent=2))
