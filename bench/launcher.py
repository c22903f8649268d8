"""The action's startup cost (bench/launcher.sh): the launcher's first run on an empty tool cache
(download from a loopback server, SHA-256 check, unpack, start) and its cached run, against
starting the same binary directly. Prints medians and ratios; no pass/fail."""

import http.server, os, shutil, statistics, subprocess, sys, tempfile, threading, time

RUNS = int(sys.argv[1])
ASSETS = os.path.abspath(sys.argv[2])
ROOT = os.getcwd()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ASSETS, **kwargs)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"

# An action checkout whose dist/ records the archive just built.
action = tempfile.mkdtemp(prefix="regcache-launcher-")
os.makedirs(f"{action}/dist")
shutil.copy(f"{ROOT}/dist/launch.sh", f"{action}/dist/launch.sh")
version = subprocess.run(["sed", "-n", 's/^version = "\\(.*\\)"/\\1/p', "Cargo.toml"], capture_output=True, text=True).stdout.split()[0]
subprocess.run(["bash", "scripts/release.sh", "record", f"{action}/dist", version, "regcache/regcache", f"{ASSETS}/SHA256SUMS"], check=True)


def run(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def launcher_env(tool_cache):
    return {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
            "RUNNER_TOOL_CACHE": tool_cache, "REGCACHE_DOWNLOAD_URL": url}


launcher = ["bash", f"{action}/dist/launch.sh", "--version"]
first, cached, bare = [], [], []
for _ in range(RUNS):
    tool_cache = tempfile.mkdtemp(prefix="regcache-toolcache-")
    env = launcher_env(tool_cache)
    first.append(run(launcher, env))
    cached.append(run(launcher, env))
    bare.append(run([f"{tool_cache}/regcache/{version}/linux-x64/regcache", "--version"], env))
    shutil.rmtree(tool_cache)

archive = [f for f in os.listdir(ASSETS) if f.endswith(".tar.gz")][0]
size = os.path.getsize(f"{ASSETS}/{archive}")
med = statistics.median
print(f"launcher startup, {RUNS} runs each, `regcache --version`, archive {archive} {size / 1e6:.2f} MB")
print(f"{'case':34} {'median s':>9} {'max s':>7} {'vs bare':>8}  budget")
for name, values, budget in (("first run (download, verify, unpack)", first, "3 s"),
                             ("cached run (tool cache)", cached, "0.3 s"),
                             ("bare binary", bare, "")):
    print(f"{name:34} {med(values):9.3f} {max(values):7.3f} {med(values) / med(bare):7.1f}x  {budget}")
server.shutdown()
shutil.rmtree(action)
