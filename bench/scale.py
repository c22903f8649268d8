"""The export that adds nothing, and builds at the size of a real service, measured in one run.

1. A 3-stage build warm on a wiped builder: regcache, which keeps the cache tag when every step
   came from it, against bare `docker buildx build` with the same cache flags, which always
   re-exports; 10 interleaved pairs; the tag's digest read after every regcache build.
2. A generated service (made here from a fixed seed, nothing downloaded): 3 stages, 36 steps, a
   dependency install of DEPS_MB that changes rarely, 24 source modules that change often,
   about 2 x DEPS_MB + 190 MB of layers of random bytes (they do not compress). Scenarios: cold;
   warm full hit on a wiped builder; one source file changed; one dependency changed. Side by
   side, interleaved: regcache; bare buildx with the same cache flags; docker/build-push-action's
   released `dist/index.cjs` run with node as scripts/bpa-differential.py runs it (set BPA_INDEX
   to its path; the column is left out without it); and the floor, a builder that kept its own
   cache (no wipe, no registry cache). Also, warm: bare buildx without `--cache-to`, the no-load
   build (`--output type=cacheonly`), and pushing the image instead of loading it. Requests,
   bytes pulled and pushed from the registry's access log; peak RSS from GNU time.
3. `compression` gzip, zstd and uncompressed, and `mode` min: a cold build's export time, the
   warm build's time on a wiped builder, the cache's size; one run each.
4. How the cache's own cost grows: regcache against bare buildx, both warm on a wiped builder
   with `--output type=cacheonly` (the cache read, and bare's re-export; loading the image is
   part 2's), for about 10 MB, 100 MB and 1 GB of layers (30 steps) and for 10, 30 and 100 steps
   (10 MB: the step count is what the manifest and config grow with); one cold regcache build
   writes the cache and its record, and bare's tag is a copy of that manifest in the same
   repository; one run each. Also the cache config's and manifest's size per step, and the steps
   at which either reaches BuildKit's 1 MiB import limit (`cache/remotecache/import.go`,
   `maxBlobSize`).
Medians with min and max; ratios against bare measured in the same run.
usage: python3 bench/scale.py [--quick] [--cold-pairs N] [RUNS]   (--quick: smaller sizes, parts 2
and 3 only; --cold-pairs N: only the service's cold build, regcache against bare, N pairs)
"""

import json, os, random, re, shutil, statistics, subprocess, sys, tempfile, time

from common import sh, timed, wipe

args = sys.argv[1:]
QUICK = "--quick" in args
# --cold-pairs N: only the service's cold build, regcache against bare buildx, N interleaved
# pairs: medians of 2 or 3 do not resolve a 3 % goal on a build whose runs spread over 10 %.
COLD_PAIRS = 0
if "--cold-pairs" in args:
    at = args.index("--cold-pairs")
    COLD_PAIRS = int(args[at + 1])
    del args[at:at + 2]
args = [a for a in args if a != "--quick"]
RUNS = int(args[0]) if args else 3
DEPS_MB = 40 if QUICK else 60
MODULES = 24
# The caches go to a registry of their own, started here and removed at the end: a run pushes
# gigabytes of random layers. The base image stays in the project's registry.
SCALE_PORT = 5066
ENGINE_DIR = os.environ.get("REGCACHE_ENGINE_DIR", "/tmp/regcache-engine")
subprocess.run(["bash", "scripts/engine.sh", "registry-start", "scale", str(SCALE_PORT)], check=True, stdout=subprocess.DEVNULL)
registry = f"127.0.0.1:{SCALE_PORT}"
binary = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache"))
ACCESS_LOG = os.path.join(ENGINE_DIR, "logs", "registry-scale.log")
BPA_INDEX = os.environ.get("BPA_INDEX")
BASE = f"{os.environ['REGCACHE_REGISTRY']}/base/busybox:1"
EXPORT = "mode=max,oci-mediatypes=true,image-manifest=true,compression=gzip,ignore-error=true"
work = tempfile.mkdtemp(prefix="regcache-scale-")
began = time.perf_counter()


def med(xs):
    return statistics.median(xs)


def span(walls):
    return f"{med(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f})"


def fresh_ref(name):
    return f"{registry}/bench/scale-{name}-{time.time_ns()}:buildcache"


def manifest_of(reference):
    """The stored manifest's digest and JSON (None, None when the tag does not exist), and its
    size in bytes as stored."""
    name, tag = reference.rsplit(":", 1)
    host, repo = name.split("/", 1)
    out = subprocess.run(["curl", "-si", "-H", "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
                          f"http://{host}/v2/{repo}/manifests/{tag}"], capture_output=True, text=True).stdout
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    found = re.search(r"(?i)docker-content-digest: (\S+)", head)
    return (found.group(1), json.loads(body), len(body.encode())) if found else (None, None, 0)


def blob_size(reference, digest):
    host, repo = reference.rsplit(":", 1)[0].split("/", 1)
    head = sh("curl", "-sI", f"http://{host}/v2/{repo}/blobs/{digest}")
    size = re.search(r"(?i)content-length: (\d+)", head)
    return int(size.group(1)) if size else 0


def image_of(cache_ref):
    return f"{cache_ref.rsplit(':', 1)[0]}:dev"


def bare(cache_ref, context, export=True, extra=()):
    argv = ["docker", "buildx", "build", "--progress=rawjson", "--metadata-file", f"{work}/bare-metadata.json",
            "--iidfile", f"{work}/bare-iid", "--tag", image_of(cache_ref), "--network", "none",
            "--cache-from", f"type=registry,ref={cache_ref}"]
    if export:
        argv += ["--cache-to", f"type=registry,ref={cache_ref},{EXPORT}"]
    return argv + list(extra) + [context]


def regcache(cache_ref, context, extra=(), tags=None):
    return [binary, "build", "--tags", tags or image_of(cache_ref), "--network", "none", "--cache-ref", cache_ref,
            "--output-format", "json", "--output-file", f"{work}/regcache-outputs.json", *extra, context]


def floor(cache_ref, context):
    """The same build on a builder that keeps its own cache: no registry cache."""
    return ["docker", "buildx", "build", "--progress=rawjson", "--tag", image_of(cache_ref), "--network", "none", context]


def bpa(cache_ref, context):
    """build-push-action's main step, with the same cache entries as bare, as
    scripts/bpa-differential.py runs it (node, INPUT_* variables, a GitHub-like environment)."""
    home = os.path.join(work, "bpa")
    os.makedirs(os.path.join(home, "temp"), exist_ok=True)
    for name in ("output", "state"):
        open(os.path.join(home, name), "w").close()
    with open(os.path.join(home, "event.json"), "w") as f:
        json.dump({"repository": {"private": True}}, f)
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "example/app", "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": "fedcba9876543210fedcba9876543210fedcba98", "GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": os.path.join(home, "event.json"),
        "GITHUB_WORKSPACE": context, "GITHUB_OUTPUT": os.path.join(home, "output"),
        "GITHUB_STATE": os.path.join(home, "state"), "GITHUB_API_URL": "http://127.0.0.1:9",
        "RUNNER_TEMP": os.path.join(home, "temp"), "TMPDIR": os.path.join(home, "temp"),
        "INPUT_CONTEXT": context, "INPUT_TAGS": image_of(cache_ref), "INPUT_NETWORK": "none",
        "INPUT_LOAD": "false", "INPUT_PUSH": "false", "INPUT_NO-CACHE": "false", "INPUT_PULL": "false",
        "INPUT_CACHE-FROM": f"type=registry,ref={cache_ref}", "INPUT_CACHE-TO": f"type=registry,ref={cache_ref},{EXPORT}",
    }
    return ["env", *[f"{k}={v}" for k, v in env.items()], "node", BPA_INDEX]


class Traffic:
    """Requests the registry answered while a command ran, and the bytes pulled (GET bodies) and
    pushed (each uploaded blob's size, read from the digest its closing PUT names), from the
    registry's access log (combined format: request line, status, response bytes)."""

    def __init__(self):
        self.start = os.path.getsize(ACCESS_LOG)

    def read(self):
        with open(ACCESS_LOG, "rb") as f:
            f.seek(self.start)
            text = f.read().decode(errors="replace")
        requests, pulled, pushed, mounts = 0, 0, 0, 0
        for line in text.splitlines():
            m = re.search(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[\d.]+" (\d+) (\d+)', line)
            if not m:
                continue
            requests += 1
            method, path = m.group(1), m.group(2)
            if method == "GET":
                pulled += int(m.group(4))
            if method == "POST" and "mount=" in path:
                mounts += 1
            d = re.search(r"digest=sha256%3A([0-9a-f]{64})", path)
            if method == "PUT" and "/blobs/uploads/" in path and d:
                repo = path.split("/v2/", 1)[1].split("/blobs/", 1)[0]
                pushed += blob_size(f"{registry}/{repo}:x", f"sha256:{d.group(1)}")
        return {"requests": requests, "pulled": pulled, "pushed": pushed, "mounts": mounts}


retries = []


def run(argv, wiped=True):
    """One timed build. A build the engine fails is run once more (after a wipe when the
    run is on a wiped builder): dockerd 26's native snapshotter now and then loses a parent
    snapshot that a wipe just removed ("parent snapshot … does not exist"); retries are
    counted and printed at the end."""
    for attempt in range(2):
        if wiped:
            wipe()
        traffic = Traffic()
        try:
            wall, rss = timed(argv)
        except SystemExit as failure:
            if attempt:
                raise
            retries.append(str(failure).splitlines()[-1][:200])
            continue
        return {"wall": wall, "rss": rss, **traffic.read()}


def elapsed():
    return f"[{(time.perf_counter() - began) / 60:.1f} min]"


def print_rows(rows, baseline):
    base = med([r["wall"] for r in rows[baseline]])
    for name, r in rows.items():
        print(f"   {name:20} {span([x['wall'] for x in r]):>22} {med([x['wall'] for x in r]) / base:6.3f}x "
              f"{med([x['rss'] for x in r]) / 1024:7.1f} MiB {med([x['requests'] for x in r]):6.0f} "
              f"{med([x['pulled'] for x in r]) / 1e6:9.1f} {med([x['pushed'] for x in r]) / 1e6:9.1f}")


HEADER = f"   {'':20} {'median (min-max)':>22} {'ratio':>7} {'peak RSS':>11} {'reqs':>6} {'MB pulled':>9} {'MB pushed':>9}"

# 1. The small 3-stage build, warm, interleaved pairs.
if not QUICK and not COLD_PAIRS:
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
    ours_ref, bare_ref = fresh_ref("small-ours"), fresh_ref("small-bare")
    wipe(); timed(regcache(ours_ref, small))
    wipe(); timed(bare(bare_ref, small))
    kept = manifest_of(ours_ref)[0]
    small_runs = {"regcache": [], "bare buildx": []}
    digests = set()
    for i in range(pairs):
        for name in (["bare buildx", "regcache"] if i % 2 == 0 else ["regcache", "bare buildx"]):
            small_runs[name].append(run(regcache(ours_ref, small) if name == "regcache" else bare(bare_ref, small)))
            if name == "regcache":
                digests.add(manifest_of(ours_ref)[0])
    print(f"1. 3-stage build, warm on a wiped builder, {pairs} interleaved pairs {elapsed()}")
    print(HEADER)
    print_rows(small_runs, "bare buildx")
    print(f"   cache tag digest across the {pairs} warm regcache builds: "
          f"{'unchanged' if digests == {kept} else 'CHANGED: ' + ', '.join(sorted(digests))}")

# 2. The generated service: one copy of the project per contender, each changed in its own copy.
rng = random.Random(23)
lines = [f"FROM {BASE} AS deps", "WORKDIR /deps", "COPY deps.lock ./"]
chunks = 4
for i in range(chunks):
    lines.append(f"RUN cat deps.lock > /dev/null && dd if=/dev/urandom of=dep-{i}.bin bs=1048576 count={DEPS_MB // chunks} 2>/dev/null")
lines += ["FROM deps AS build", "WORKDIR /src", "COPY src/ ./"]
for i in range(MODULES):
    lines.append(f"RUN mkdir -p /out && cat module-{i:02}.txt > /out/module-{i:02}.txt && dd if=/dev/urandom bs=1048576 count=4 2>/dev/null >> /out/module-{i:02}.txt")
lines += [f"FROM {BASE}", "COPY --from=deps /deps /deps", "COPY --from=build /out /app",
          "RUN ls /app > /app.index", "RUN du -s /deps /app > /sizes"]
files = {"Dockerfile": "\n".join(lines) + "\n",
         "deps.lock": "".join(f"package-{i} {rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 50)}\n" for i in range(300))}
for i in range(MODULES):
    files[f"src/module-{i:02}.txt"] = "".join(f"fn f{i}_{j}() {{ {rng.getrandbits(64):x} }}\n" for j in range(2000))
steps = sum(1 for l in lines if l.split()[0] in ("RUN", "COPY", "WORKDIR")) + 2  # and the two image FROMs
contenders = {"regcache": regcache, "bare buildx": bare, **({"build-push-action": bpa} if BPA_INDEX else {})}
projects = {}
for name in [*contenders, "floor"]:
    projects[name] = os.path.join(work, "service-" + re.sub(r"\W", "-", name))
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(projects[name], path)), exist_ok=True)
        with open(os.path.join(projects[name], path), "w") as f:
            f.write(text)
refs = {name: fresh_ref(re.sub(r"\W", "-", name)) for name in [*contenders, "floor"]}
changes = 0


def change(name, path):
    """One file changed in the contender's own copy: a line no earlier build had."""
    global changes
    changes += 1
    with open(os.path.join(projects[name], path), "a") as f:
        f.write(f"# change {changes}\n")


def interleaved(before=None):
    rows = {name: [] for name in contenders}
    for i in range(RUNS):
        order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
        for name in order:
            if before:
                before(name)
            rows[name].append(run(contenders[name](refs[name], projects[name])))
    return rows


def floor_runs(before=None):
    """The floor's runs in a block of their own: the others' wipes would empty its builder."""
    wipe()
    timed(floor(refs["floor"], projects["floor"]))
    rows = []
    for _ in range(RUNS):
        if before:
            before("floor")
        rows.append(run(floor(refs["floor"], projects["floor"]), wiped=False))
    return rows




def finish():
    print(f"\ntotal {elapsed()}; builds run again after an engine failure: {len(retries)}")
    for failure in retries:
        print(f"   {failure}")
    shutil.rmtree(work, ignore_errors=True)
    wipe()
    subprocess.run(["bash", "scripts/engine.sh", "registry-stop", "scale"], check=True)
    shutil.rmtree(os.path.join(ENGINE_DIR, "registries", "scale"), ignore_errors=True)


if COLD_PAIRS:
    pairs = {"regcache": [], "bare buildx": []}
    for i in range(COLD_PAIRS):
        for name in (["bare buildx", "regcache"] if i % 2 == 0 else ["regcache", "bare buildx"]):
            refs[name] = fresh_ref(re.sub(r"\W", "-", name))
            pairs[name].append(run(contenders[name](refs[name], projects[name])))
    print(f"2. generated service ({steps} steps, about {2 * DEPS_MB + 2 * 4 * MODULES} MB of layers), cold on a wiped builder, "
          f"{COLD_PAIRS} interleaved pairs {elapsed()}")
    print(HEADER)
    print_rows(pairs, "bare buildx")
    ratios = sorted(a["wall"] / b["wall"] for a, b in zip(pairs["regcache"], pairs["bare buildx"]))
    print(f"   ratio of each pair, regcache / bare: median {med(ratios):.3f} (min {ratios[0]:.3f}, max {ratios[-1]:.3f})")
    finish()
    sys.exit()

scenarios = {}
cold = {name: [] for name in [*contenders, "floor"]}
for i in range(RUNS):
    for name in ([*contenders, "floor"] if i % 2 == 0 else list(reversed([*contenders, "floor"]))):
        refs[name] = fresh_ref(re.sub(r"\W", "-", name))
        build = contenders.get(name, floor)
        cold[name].append(run(build(refs[name], projects[name])))
scenarios["cold"] = cold
warm = interleaved()
warm["floor"] = floor_runs()
# The same warm build written other ways, each against the bare cache: without --cache-to, not
# loaded (cacheonly), and pushed instead of loaded (another repository of the same registry).
warm["bare, no --cache-to"] = [run(bare(refs["bare buildx"], projects["bare buildx"], export=False)) for _ in range(RUNS)]
warm["bare, cacheonly"] = [run(bare(refs["bare buildx"], projects["bare buildx"], export=False, extra=["--output", "type=cacheonly"])) for _ in range(RUNS)]
push_ref = fresh_ref("pushed")
warm["bare, --push"] = [run(bare(refs["bare buildx"], projects["bare buildx"], export=False, extra=["--tag", image_of(push_ref), "--push"])) for _ in range(RUNS)]
warm["regcache, --push"] = [run(regcache(refs["regcache"], projects["regcache"], extra=["--push"],
                                          tags=f"{image_of(refs['regcache'])},{image_of(push_ref)}")) for _ in range(RUNS)]
scenarios["warm, full hit"] = warm
with open(f"{work}/regcache-outputs.json") as f:
    pushed_outputs = json.load(f)
for label, path in (("one source file changed", "src/module-07.txt"), ("one dependency changed", "deps.lock")):
    rows = interleaved(lambda name: change(name, path))
    rows["floor"] = floor_runs(lambda name: change(name, path))
    scenarios[label] = rows
print(f"\n2. generated service: 3 stages, {steps} steps, dependencies {DEPS_MB} MB, {MODULES} modules of 4 MB, "
      f"about {2 * DEPS_MB + 2 * 4 * MODULES} MB of layers; {RUNS} runs each {elapsed()}")
if not BPA_INDEX:
    print("   (build-push-action left out: set BPA_INDEX to its released dist/index.cjs)")
for label, rows in scenarios.items():
    print(f"   {label}")
    print(HEADER)
    print_rows(rows, "bare buildx")
# The first push to the new repository mounts what it can; later ones find the blobs there.
print(f"   warm --push: blobs mounted across repositories in all {RUNS} pushes: "
      f"{sum(r['mounts'] for r in warm['regcache, --push'])} (regcache), {sum(r['mounts'] for r in warm['bare, --push'])} (bare)")
walls = {k: med([r["wall"] for r in v]) for k, v in warm.items()}
print("   the warm regcache build against the floor, measured parts:")
print(f"     floor (local cache: process start, context, solve, load): {walls['floor']:.2f} s")
print(f"     + the registry cache read, nothing loaded (cacheonly - floor): {walls['bare, cacheonly'] - walls['floor']:.2f} s")
print(f"     + layers pulled and loaded into the image store (no --cache-to - cacheonly): {walls['bare, no --cache-to'] - walls['bare, cacheonly']:.2f} s")
print(f"     + regcache's own work (regcache - bare without --cache-to): {walls['regcache'] - walls['bare, no --cache-to']:.2f} s")
print(f"     regcache's cache-import-seconds in its last build: {pushed_outputs.get('cache-import-seconds')}")

# 3. Compression and mode: a cold build's export time, the warm build's time, the cache's size.


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


def export_seconds(stderr):
    seconds = 0.0
    for event in json_objects(stderr):
        for v in event.get("vertexes") or []:
            if v.get("name", "").startswith("exporting cache") and v.get("completed") and v.get("started"):
                seconds = stamp_seconds(v["completed"]) - stamp_seconds(v["started"])
    return seconds


def cache_bytes(reference):
    _, manifest, _ = manifest_of(reference)
    return sum(l["size"] for l in manifest.get("layers", [])) if manifest else 0


print(f"\n3. compression and mode: the service with bare buildx, one run each {elapsed()}")
print(f"   {'cache-to':20} {'cold build':>22} {'export':>8} {'warm, wiped builder':>22} {'cache MB':>9}")
service = projects["bare buildx"]
for label, options in (("gzip, max", "mode=max,compression=gzip"), ("zstd, max", "mode=max,compression=zstd"),
                       ("uncompressed, max", "mode=max,compression=uncompressed"), ("gzip, min", "mode=min,compression=gzip")):
    ref = fresh_ref("options")
    wipe()
    started = time.perf_counter()
    out = subprocess.run(["docker", "buildx", "build", "--progress=rawjson", "--network", "none", "--tag", image_of(ref),
                          "--cache-to", f"type=registry,ref={ref},{options},oci-mediatypes=true,image-manifest=true", service],
                         capture_output=True, text=True)
    cold_wall = time.perf_counter() - started
    warm = run(["docker", "buildx", "build", "--progress=rawjson", "--network", "none", "--tag", image_of(ref),
                "--cache-from", f"type=registry,ref={ref}", service])["wall"]
    print(f"   {label:20} {cold_wall:20.2f} s {export_seconds(out.stderr):7.2f}s {warm:20.2f} s {cache_bytes(ref) / 1e6:9.1f}")


def copy_tag(reference, tag):
    """The manifest under `reference` stored again under `tag` of the same repository: one GET
    and one PUT, its blobs already there."""
    name, old = reference.rsplit(":", 1)
    host, repo = name.split("/", 1)
    out = subprocess.run(["curl", "-s", "-D", "-", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                          f"http://{host}/v2/{repo}/manifests/{old}"], capture_output=True).stdout
    head, _, body = out.replace(b"\r\n", b"\n").partition(b"\n\n")
    media_type = re.search(rb"(?i)content-type: (\S+)", head).group(1).decode()
    subprocess.run(["curl", "-sf", "-X", "PUT", "-H", f"Content-Type: {media_type}", "--data-binary", "@-",
                    f"http://{host}/v2/{repo}/manifests/{tag}"], input=body, check=True, capture_output=True)
    return f"{name}:{tag}"


# 4. How the cache's own cost grows with it.
if not QUICK:
    print(f"\n4. the cache's cost as it grows: regcache and bare buildx warm on wiped builders, --output type=cacheonly, one run each {elapsed()}")
    print(f"   {'layers':>8} {'steps':>6} {'regcache':>10} {'bare buildx':>12} {'ratio':>7} {'config KiB':>11} {'manifest KiB':>13}")
    grown = []
    cacheonly = ["--output", "type=cacheonly"]
    for megabytes, count in ((10, 30), (100, 30), (1000, 30), (10, 10), (10, 100)):
        project = os.path.join(work, f"grow-{megabytes}-{count}")
        os.makedirs(project)
        per_step = max(1, round(megabytes * 1024 / count))
        with open(os.path.join(project, "Dockerfile"), "w") as f:
            f.write(f"FROM {BASE}\n" + "".join(
                f"RUN dd if=/dev/urandom of=/layer-{i:03}.bin bs=1024 count={per_step} 2>/dev/null\n" for i in range(count)))
        ours = fresh_ref("grow")
        wipe(); timed(regcache(ours, project, extra=["--outputs", "type=cacheonly"]))
        theirs = copy_tag(ours, "bare")
        walls = {"regcache": run(regcache(ours, project, extra=["--outputs", "type=cacheonly"]))["wall"],
                 "bare buildx": run(bare(theirs, project, extra=cacheonly))["wall"]}
        _, manifest, size = manifest_of(theirs)
        config = blob_size(theirs, manifest["config"]["digest"])
        grown.append((count, config, size))
        print(f"   {megabytes:>5} MB {count:>6} {walls['regcache']:8.2f} s {walls['bare buildx']:10.2f} s "
              f"{walls['regcache'] / walls['bare buildx']:6.3f}x {config / 1024:11.1f} {size / 1024:13.1f}")
    # Bytes per step from the 10- and 100-step caches of the same size: where 1 MiB is reached.
    (few, few_config, few_manifest), (many, many_config, many_manifest) = grown[3], grown[4]
    for what, small_size, large_size in (("config", few_config, many_config), ("manifest", few_manifest, many_manifest)):
        per = (large_size - small_size) / (many - few)
        at = few + ((1 << 20) - small_size) / per
        print(f"   cache {what}: {per:.0f} bytes per step, reaches 1 MiB at about {at:,.0f} steps (mode=max, one layer per step)")
finish()
