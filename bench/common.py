"""Helpers shared by the benchmark scripts: shell calls, the ephemeral-runner wipe, timing."""

import subprocess, sys, time


def sh(*args, env=None):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def wipe():
    """What an ephemeral runner starts with: no build cache, no images (the base included)."""
    sh("docker", "buildx", "prune", "-af")
    ids = sh("docker", "images", "-aq").split()
    if ids:
        subprocess.run(["docker", "image", "rm", "-f", *ids], capture_output=True)
    sh("docker", "image", "prune", "-af")


def timed(argv, env=None):
    """Wall seconds (to the microsecond: GNU time's %e counts hundredths, too coarse for a 3 %
    goal on a half-second build) and peak RSS (KiB, by GNU time) of one run."""
    started = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{out.stderr[-3000:]}")
    _, rss = out.stderr.strip().splitlines()[-1].split()
    return wall, int(rss)
