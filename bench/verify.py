"""Deep verify against sha256sum over the same uncompressed bytes, measured in one run.

A build writes a cache whose main layer holds 256 MiB (half random, half a repeated pattern, so
gzip has work both ways). `regcache verify --deep` downloads every layer from the loopback
registry, decompresses it and hashes the content; sha256sum hashes the same uncompressed
bytes, already on disk. The ratio is uncompressed MB/s of regcache over sha256sum's MB/s
(goal: at least 0.8), with regcache's peak RSS, which must not grow with the layer.
usage: python3 bench/verify.py [RUNS]
"""

import json, os, statistics, subprocess, sys, tempfile, time

from common import sh, timed

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
registry = os.environ["REGCACHE_REGISTRY"]
binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache")
ref = f"{registry}/bench/verify:buildcache-{time.time_ns()}"

with tempfile.TemporaryDirectory() as work:
    with open(os.path.join(work, "Dockerfile"), "w") as f:
        f.write(
            f"FROM {registry}/base/busybox:1\n"
            "RUN head -c 134217728 /dev/urandom > /random && yes regcache-bench | head -c 134217728 > /pattern\n"
        )
    sh("docker", "buildx", "build", "--cache-to", f"type=registry,ref={ref},mode=max", work)

    # The uncompressed bytes, as sha256sum would see them: the layer's content, unpacked once.
    verification = json.loads(subprocess.run([binary, "verify", ref, "--deep", "--format", "json"], check=True, capture_output=True, text=True).stdout)
    layer = max(verification["blobs"], key=lambda b: b["size"])
    content = os.path.join(work, "layer.tar")
    name, tag = ref.rsplit(":", 1)
    host, repo = name.split("/", 1)
    subprocess.run(f"curl -sf http://{host}/v2/{repo}/blobs/{layer['digest']} | gunzip > {content}", shell=True, check=True)
    total = verification["uncompressed_bytes"]

    ours, theirs, rss = [], [], []
    for _ in range(runs):
        wall, peak = timed([binary, "verify", ref, "--deep"])
        ours.append(total / wall / 1e6)
        rss.append(peak)
        wall, _ = timed(["sha256sum", content])
        theirs.append(os.path.getsize(content) / wall / 1e6)

print(f"deep verify of {total / 2**20:.0f} MiB uncompressed ({len(verification['blobs'])} blobs), {runs} runs each, medians:")
print(f"  regcache verify --deep  {statistics.median(ours):8.1f} MB/s  (download, gunzip, sha256 of content and blob)")
print(f"  sha256sum (from disk)   {statistics.median(theirs):8.1f} MB/s")
print(f"  ratio                   {statistics.median(ours) / statistics.median(theirs):8.2f}x  (goal >= 0.8)")
print(f"  regcache peak RSS       {statistics.median(rss) / 1024:8.1f} MiB")
