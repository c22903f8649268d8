"""Two regcache binaries on the same builds, interleaved: what a change costs the builds it
should not touch. The example's cold build (a cache tag that does not exist yet) and its
one-file-changed build (one line added to src/greeting.txt before each run), each on a wiped
builder, each binary reading and writing its own cache tag.
usage: python3 bench/ab.py OLD_BINARY NEW_BINARY [RUNS]   (bench/run.sh does not run it)
"""

import os, shutil, statistics, sys, tempfile, time

from common import timed, wipe

old, new = (os.path.abspath(p) for p in sys.argv[1:3])
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
registry = os.environ["REGCACHE_REGISTRY"]
work = tempfile.mkdtemp(prefix="regcache-ab-")
binaries = {"old": old, "new": new}
projects = {}
for name in binaries:
    projects[name] = os.path.join(work, name)
    shutil.copytree("example", projects[name])


def build(name, ref):
    return [binaries[name], "build", "--tag", f"{ref.rsplit(':', 1)[0]}:dev", "--network", "none",
            "--cache-ref", ref, projects[name]]


results = {(scenario, name): [] for scenario in ("cold", "one file changed") for name in binaries}
refs = {}
for i in range(runs):
    for name in (["old", "new"] if i % 2 == 0 else ["new", "old"]):
        refs[name] = f"{registry}/bench/ab-{name}-{time.time_ns()}:buildcache"
        wipe()
        results[("cold", name)].append(timed(build(name, refs[name]))[0])
    for name in (["new", "old"] if i % 2 == 0 else ["old", "new"]):
        with open(os.path.join(projects[name], "src", "greeting.txt"), "a") as f:
            f.write(f"change {i}\n")
        wipe()
        results[("one file changed", name)].append(timed(build(name, refs[name]))[0])
print(f"old {old}\nnew {new}\n{runs} runs each, interleaved, wiped builder")
for scenario in ("cold", "one file changed"):
    o, n = (statistics.median(results[(scenario, name)]) for name in ("old", "new"))
    spread = {name: (min(results[(scenario, name)]), max(results[(scenario, name)])) for name in binaries}
    print(f"{scenario:18} old {o:.3f} s ({spread['old'][0]:.2f}-{spread['old'][1]:.2f}), "
          f"new {n:.3f} s ({spread['new'][0]:.2f}-{spread['new'][1]:.2f}): new/old {n / o:.3f}x")
shutil.rmtree(work, ignore_errors=True)
