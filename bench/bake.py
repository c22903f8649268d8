"""The bake warm path: `regcache bake` against the bare `docker buildx bake` given the same
cache sets regcache writes (each target's cache-from and cache-to, as a user would write them
by hand), both on a wiped builder importing the same registry caches; runs interleaved. Also
the floor: bare bake reading the caches and writing none. Two sizes: the bundled two-target
example, and a generated pair of services (a shared base with a 100 MB layer and 12 steps,
then 12 steps per target). Prints medians and the ratios.
usage: python3 bench/bake.py [RUNS]"""

import json, os, shutil, statistics, subprocess, sys, tempfile

from common import sh, timed, wipe

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
regcache = os.path.join(target_dir, "release", "regcache")
registry = os.environ["REGCACHE_REGISTRY"]
base = os.environ["REGCACHE_BASE_IMAGE"]


def services(dir):
    """Two services on one base: 12 base steps (one writes 100 MB), 12 steps each."""
    lines = [f"FROM {base} AS base", "RUN head -c 100000000 /dev/urandom > /blob"]
    lines += [f"RUN echo base-{i} > /base-{i}" for i in range(11)]
    for name in ("api", "worker"):
        lines.append(f"FROM base AS {name}")
        lines += [f"RUN echo {name}-{i} > /{name}-{i}" for i in range(12)]
    with open(os.path.join(dir, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    shutil.copy(os.path.join(root, "example/two-images/docker-bake.hcl"), dir)


def bench(name, context):
    image_registry = f"{registry}/bench/bake-{name}-{os.getpid()}"
    env = dict(os.environ, REGISTRY=image_registry)
    out = os.path.join(context, "outputs.json")
    ours = [regcache, "bake", "--cache-policy", "shared", "--output-format", "json", "--output-file", out]
    # The caches, written once; their refs are what the bare run is given.
    wipe()
    subprocess.run(ours, cwd=context, env=env, check=True, capture_output=True)
    with open(out) as f:
        targets = json.load(f)["targets"]
    cache_from, cache_to = [], []
    for target, t in sorted(targets.items()):
        ref = t["cache-ref"]
        cache_from += ["--set", f"{target}.cache-from=type=registry,ref={ref}"]
        cache_to += ["--set", f"{target}.cache-to=type=registry,ref={ref},mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true"]
    bare = ["docker", "buildx", "bake", *cache_from, *cache_to]
    floor = ["docker", "buildx", "bake", *cache_from]
    runs_of = {"regcache": ours, "bare": bare, "floor": floor}
    times = {k: [] for k in runs_of}
    rss = {k: [] for k in runs_of}
    warm = set()
    for _ in range(runs):
        for k, argv in runs_of.items():
            wipe()
            old = os.getcwd()
            os.chdir(context)
            try:
                wall, kib = timed(argv, env=env)
            finally:
                os.chdir(old)
            times[k].append(wall)
            rss[k].append(kib)
        with open(out) as f:
            result = json.load(f)
        warm.add(tuple(sorted((t, v["cache-exported"], v["cached-steps"], v["total-steps"]) for t, v in result["targets"].items())))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "size": name,
        "runs": runs,
        "regcache bake s (median)": round(med["regcache"], 3),
        "bare bake, same cache sets s (median)": round(med["bare"], 3),
        "floor: bare bake reading only s (median)": round(med["floor"], 3),
        "time ratio regcache/bare": round(med["regcache"] / med["bare"], 3),
        "time ratio regcache/floor": round(med["regcache"] / med["floor"], 3),
        "peak RSS KiB regcache (its own process tree's largest)": statistics.median(rss["regcache"]),
        "peak RSS KiB bare": statistics.median(rss["bare"]),
        "regcache's warm result per target (target, cache-exported, cached, total)": sorted(warm),
    }


example = tempfile.mkdtemp(prefix="regcache-bench-bake-")
shutil.copytree(os.path.join(root, "example/two-images"), example, dirs_exist_ok=True)
generated = tempfile.mkdtemp(prefix="regcache-bench-bake-services-")
services(generated)
results = [bench("example", example), bench("services", generated)]
shutil.rmtree(example)
shutil.rmtree(generated)
print(json.dumps(results, indent=2))
