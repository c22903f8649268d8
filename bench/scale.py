"""The export that adds nothing, and builds at the size of a real service, measured in one run.

1. A 3-stage build (bench's own small Dockerfile), warm on a wiped builder: regcache, which
   keeps the cache tag when every step came from it, against bare `docker buildx build` with
   the same cache flags, which always re-exports; pairs interleaved. The tag's digest is read
   after every regcache build: it must not change.
2. A generated service (made here from a fixed seed, nothing downloaded): 3 stages, 34 steps,
   a dependency layer of DEPS_MB that changes rarely and source that changes often, about
   2 x DEPS_MB + 120 MB of layers of random bytes (they do not compress). Scenarios: cold,
   warm full hit on a wiped builder, one source file changed, one dependency changed; each for
   regcache, bare buildx with the same cache flags, and the floor: the same build on a
   builder that kept its own cache (no wipe, no registry cache). Also the no-load figure
   (`--output type=cacheonly`, nothing exported) and the registry's requests and bytes per
   scenario, from its access log.
3. `compression` gzip, zstd and uncompressed (export time of a cold build, warm import time,
   cache size) and `mode` min and max.
Medians with min and max; ratios against bare measured in the same run.
usage: python3 bench/scale.py [--quick] [RUNS]   (--quick: 60 MB dependencies instead of 200)
"""

import json, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

from common import sh, timed, wipe

args = [a for a in sys.argv[1:] if a != "--quick"]
QUICK = "--quick" in sys.argv
RUNS = int(args[0]) if args else 3
DEPS_MB = 60 if QUICK else 200
MODULES = 24
registry = os.environ["REGCACHE_REGISTRY"]
binary = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache"))
ACCESS_LOG = os.path.join(os.environ.get("REGCACHE_ENGINE_DIR", "/tmp/regcache-engine"), "logs", "registry-main.log")
BASE = f"{registry}/base/busybox:1"
work = tempfile.mkdtemp(prefix="regcache-scale-")


def med(xs):
    return statistics.median(xs)


def span(walls):
    return f"{med(walls):7.2f} s ({min(walls):.2f}-{max(walls):.2f})"


def digest(reference):
    name, tag = reference.rsplit(":", 1)
    host, repo = name.split("/", 1)
    out = sh("curl", "-sI", "-H", "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
             f"http://{host}/v2/{repo}/manifests/{tag}")
    found = re.search(r"(?i)docker-content-digest: (\S+)", out)
    return found.group(1) if found else None


def bare(cache_ref, context, extra=()):
    return ["docker", "buildx", "build", "--progress=rawjson", "--metadata-file", f"{work}/bare-metadata.json",
            "--iidfile", f"{work}/bare-iid", "--tag", f"{cache_ref.rsplit(':', 1)[0]}:dev", "--network", "none",
            "--cache-from", f"type=registry,ref={cache_ref}",
            "--cache-to", f"type=registry,ref={cache_ref},mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true",
            *extra, context]


def regcache(cache_ref, context, extra=()):
    return [binary, "build", "--tag", f"{cache_ref.rsplit(':', 1)[0]}:dev", "--network", "none",
            "--cache-ref", cache_ref, *extra, context]


def floor(cache_ref, context):
    """A builder that keeps its own cache: no wipe, no registry cache."""
    return ["docker", "buildx", "build", "--progress=rawjson", "--tag", f"{cache_ref.rsplit(':', 1)[0]}:dev",
            "--network", "none", context]


class Traffic:
    """Requests and bytes the registry served and received while a command ran, from its access
    log (combined format: request line, status, response bytes); bytes received are the
    uploaded blobs' sizes, read from the digests the PUTs name."""

    def __init__(self):
        self.start = os.path.getsize(ACCESS_LOG)

    def read(self):
        with open(ACCESS_LOG, "rb") as f:
            f.seek(self.start)
            text = f.read().decode(errors="replace")
        requests, sent, received = 0, 0, 0
        for line in text.splitlines():
            m = re.search(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d+) (\d+)', line)
            if not m:
                continue
            requests += 1
            method, path = m.group(1), m.group(2)
            if method == "GET":
                sent += int(m.group(4))
            if method == "PUT" and "/blobs/uploads/" in path:
                d = re.search(r"digest=sha256%3A([0-9a-f]{64})", path)
                repo = path.split("/v2/", 1)[1].split("/blobs/", 1)[0]
                if d:
                    head = sh("curl", "-sI", f"http://{registry}/v2/{repo}/blobs/sha256:{d.group(1)}")
                    size = re.search(r"(?i)content-length: (\d+)", head)
                    received += int(size.group(1)) if size else 0
        return requests, sent, received


def run(argv, wiped=True):
    if wiped:
        wipe()
    traffic = Traffic()
    wall, rss = timed(argv)
    return wall, rss, *traffic.read()


# 1. The small 3-stage build, warm, interleaved pairs.
small = os.path.join(work, "small")
os.makedirs(os.path.join(small, "src"))
with open(os.path.join(small, "Dockerfile"), "w") as f:
    f.write(f"""FROM {BASE} AS deps
WORKDIR /app
COPY deps.txt ./
RUN cat deps.txt > deps.out
FROM deps AS build
COPY src/ ./src/
RUN cat src/* > built.txt
FROM {BASE}
COPY --from=build /app/built.txt /built.txt
COPY --from=deps /app/deps.out /deps.out
RUN cat /built.txt /deps.out > /final.txt
""")
for name, text in (("deps.txt", "left-pad 1.0\n"), ("src/a.txt", "a\n"), ("src/b.txt", "b\n")):
    with open(os.path.join(small, name), "w") as f:
        f.write(text)
pairs = 10
repo = f"{registry}/bench/scale-small-{time.time_ns()}"
ours_ref, bare_ref = f"{repo}:ours", f"{repo}:bare"
wipe(); timed(regcache(ours_ref, small))
wipe(); timed(bare(bare_ref, small))
kept = digest(ours_ref)
small_runs = {"regcache": [], "bare": []}
digests = set()
for i in range(pairs):
    for name in (["bare", "regcache"] if i % 2 == 0 else ["regcache", "bare"]):
        argv = regcache(ours_ref, small) if name == "regcache" else bare(bare_ref, small)
        small_runs[name].append(run(argv))
        if name == "regcache":
            digests.add(digest(ours_ref))
print(f"1. 3-stage build, warm on a wiped builder, {pairs} interleaved pairs")
for name, rows in small_runs.items():
    print(f"   {name:9} {span([r[0] for r in rows])}  peak RSS {med([r[1] for r in rows]) / 1024:.1f} MiB  "
          f"requests {med([r[2] for r in rows]):.0f}")
ratio = med([r[0] for r in small_runs['regcache']]) / med([r[0] for r in small_runs['bare']])
print(f"   regcache/bare {ratio:.3f}x; cache tag digest across the {pairs} warm builds: "
      f"{'unchanged' if digests == {kept} else 'CHANGED: ' + ', '.join(sorted(digests))}")

# 2. The generated service.
rng = random.Random(23)
service = os.path.join(work, "service")
os.makedirs(os.path.join(service, "src"))
lines = [f"FROM {BASE} AS deps", "WORKDIR /deps", "COPY deps.lock ./"]
chunks = 4
for i in range(chunks):
    # Random bytes from the kernel: a layer that does not compress, its size fixed.
    lines.append(f"RUN cat deps.lock > /dev/null && dd if=/dev/urandom of=dep-{i}.bin bs=1048576 count={DEPS_MB // chunks} 2>/dev/null")
lines += ["FROM deps AS build", "WORKDIR /src", "COPY src/ ./"]
for i in range(MODULES):
    lines.append(f"RUN mkdir -p /out && cat module-{i:02}.txt > /out/module-{i:02}.txt && dd if=/dev/urandom bs=1048576 count=4 2>/dev/null >> /out/module-{i:02}.txt")
lines += [f"FROM {BASE}", "COPY --from=deps /deps /deps", "COPY --from=build /out /app",
          "RUN ls /app > /app.index", "RUN du -s /deps /app > /sizes"]
with open(os.path.join(service, "Dockerfile"), "w") as f:
    f.write("\n".join(lines) + "\n")
steps = sum(1 for l in lines if l.split()[0] in ("RUN", "COPY", "WORKDIR"))
with open(os.path.join(service, "deps.lock"), "w") as f:
    f.write("".join(f"package-{i} {rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 50)}\n" for i in range(300)))
for i in range(MODULES):
    with open(os.path.join(service, "src", f"module-{i:02}.txt"), "w") as f:
        f.write("".join(f"fn f{i}_{j}() {{ {rng.getrandbits(64):x} }}\n" for j in range(2000)))


def toggle(path, marker):
    """One file changed: a line added, or taken away again (so that each run changes it)."""
    with open(path) as f:
        text = f.read()
    text = text[: -len(marker)] if text.endswith(marker) else text + marker
    with open(path, "w") as f:
        f.write(text)


scenarios = {}
contenders = ("regcache", "bare", "floor")
stamp = time.time_ns()
refs = {name: f"{registry}/bench/scale-{name}-{stamp}:buildcache" for name in contenders}


def argv_of(name):
    if name == "regcache":
        return regcache(refs[name], service)
    if name == "bare":
        return bare(refs[name], service)
    return floor(refs[name], service)


# Cold: every contender on a wiped builder and a cache tag that does not exist yet.
cold = {name: [] for name in contenders}
for i in range(RUNS):
    for name in contenders:
        refs[name] = f"{registry}/bench/scale-{name}-{time.time_ns()}:buildcache"
        cold[name].append(run(argv_of(name), wiped=True))
scenarios["cold"] = cold
# Each contender's cache (and the floor's builder) now holds the service as it is.
warm = {name: [] for name in contenders}
for i in range(RUNS):
    for name in (contenders if i % 2 == 0 else tuple(reversed(contenders))):
        warm[name].append(run(argv_of(name), wiped=name != "floor"))
scenarios["warm, full hit"] = warm
src_file = os.path.join(service, "src", "module-07.txt")
dep_file = os.path.join(service, "deps.lock")
for label, path in (("one source file changed", src_file), ("one dependency changed", dep_file)):
    rows = {name: [] for name in contenders}
    for i in range(RUNS):
        for name in (contenders if i % 2 == 0 else tuple(reversed(contenders))):
            if name == "floor":
                timed(argv_of(name))  # the floor's builder holds the state before the change
            toggle(path, "# changed\n")
            rows[name].append(run(argv_of(name), wiped=name != "floor"))
            toggle(path, "# changed\n")
            # Put the cache back to the state before the change for the next contender.
            if name != "floor":
                wipe(); timed(argv_of(name))
    scenarios[label] = rows
# No load: the warm build writing nothing but reading the cache (`--output type=cacheonly`).
noload = [run(["docker", "buildx", "build", "--progress=rawjson", "--network", "none",
               "--cache-from", f"type=registry,ref={refs['bare']}", "--output", "type=cacheonly", service]) for _ in range(RUNS)]

print(f"\n2. generated service: 3 stages, {steps} steps, dependencies {DEPS_MB} MB, {MODULES} modules of 4 MB "
      f"(about {2 * DEPS_MB + 2 * 4 * MODULES} MB of layers), {RUNS} runs each, interleaved")
print(f"   {'scenario':26} {'contender':9} {'median (min-max)':>22} {'ratio':>7} {'peak RSS':>9} {'requests':>9} {'MB sent':>8} {'MB received':>12}")
for label, rows in scenarios.items():
    base = med([r[0] for r in rows["bare"]])
    for name in contenders:
        r = rows[name]
        print(f"   {label:26} {name:9} {span([x[0] for x in r]):>22} {med([x[0] for x in r]) / base:6.3f}x "
              f"{med([x[1] for x in r]) / 1024:7.1f} M {med([x[2] for x in r]):9.0f} {med([x[3] for x in r]) / 1e6:8.1f} {med([x[4] for x in r]) / 1e6:12.1f}")
print(f"   {'warm, no load (cacheonly)':26} {'bare':9} {span([x[0] for x in noload]):>22} "
      f"{med([x[0] for x in noload]) / med([r[0] for r in scenarios['warm, full hit']['bare']]):6.3f}x")

def json_objects(text):
    """Each JSON object of a rawjson stream, one per line or indented over several."""
    decoder, at = json.JSONDecoder(), 0
    while True:
        at = text.find("{", at)
        if at < 0:
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        if isinstance(value, dict):
            yield value


def stamp_seconds(stamp):
    """Seconds of an RFC 3339 timestamp with nanoseconds (`2026-12-06T00:36:20.123456789Z`)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (fraction or "0"))


# 3. Compression and mode: a cold build's export time, the warm import, the cache's size.
print(f"\n3. compression and mode (the service, bare buildx, {RUNS} runs each)")
print(f"   {'cache-to':28} {'cold build':>22} {'export':>9} {'warm import+load':>22} {'cache MB':>9}")
for label, options in (("gzip, max", "mode=max,compression=gzip"), ("zstd, max", "mode=max,compression=zstd"),
                       ("uncompressed, max", "mode=max,compression=uncompressed"), ("gzip, min", "mode=min,compression=gzip")):
    cold_walls, exports, warm_walls, sizes = [], [], [], []
    for _ in range(RUNS):
        ref = f"{registry}/bench/scale-opts-{time.time_ns()}:buildcache"
        argv = ["docker", "buildx", "build", "--progress=rawjson", "--network", "none",
                "--cache-to", f"type=registry,ref={ref},{options},oci-mediatypes=true,image-manifest=true", service]
        wipe()
        started = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True)
        cold_walls.append(time.perf_counter() - started)
        export = 0.0
        for event in json_objects(out.stderr):
            for v in event.get("vertexes") or []:
                if v.get("name", "").startswith("exporting cache") and v.get("completed") and v.get("started"):
                    export = stamp_seconds(v["completed"]) - stamp_seconds(v["started"])
        exports.append(export)
        warm_walls.append(run(["docker", "buildx", "build", "--progress=rawjson", "--network", "none",
                               "--cache-from", f"type=registry,ref={ref}", service])[0])
        manifest = json.loads(sh("curl", "-s", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                                 f"http://{registry}/v2/{ref.split('/', 1)[1].rsplit(':', 1)[0]}/manifests/buildcache"))
        sizes.append(sum(l["size"] for l in manifest.get("layers", [])) / 1e6)
    print(f"   {label:28} {span(cold_walls):>22} {med(exports):8.2f}s {span(warm_walls):>22} {med(sizes):9.1f}")
shutil.rmtree(work, ignore_errors=True)
