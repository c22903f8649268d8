"""Event-trace benchmark (bench/run.sh runs it): a realistic run of CI events replayed on the
bundled two-stage example, every build on a wiped builder (an ephemeral runner), against the
local registry, once per cache strategy, all in one run:

  shared      one ref for everything (BuildKit docs: cache-from and cache-to the same ref)
  per-branch  a ref per branch / pr-N / tag, no fallback
  int128      int128/docker-build-cache-config-action's table (its README, "Cache key")
  regcache    our branch policy (cache-policy: branch), driven by GitHub event payloads
  oracle      the best any read chain could do: regcache's writes, reading every cache tag
              that exists in the registry at that moment

Alternatives run through `regcache build --cache-policy off` with their own --cache-from /
--cache-to lines, so the engine, the flags and the statistics are the same for all four.
A fork's token cannot write packages: a strategy that exports on a fork PR is counted as a
failed job and its export is not performed.
"""

import json, os, subprocess, sys, tempfile, time, urllib.request

from common import sh, wipe

REGCACHE = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "regcache"))
REGISTRY = os.environ["REGCACHE_REGISTRY"]
STAMP = int(time.time())
WORK = tempfile.mkdtemp(prefix="regcache-trace-")
FULL_NAME = "example/app"

# File contents by name of state; each is applied over example/.
BASE = {"src/greeting.txt": "hello from the build stage\n", "src/numbers.txt": "1\n2\n3\n", "config.txt": "mode=production\n"}
def state(**changes):
    files = dict(BASE)
    files.update({k.replace("__", "/").replace("_txt", ".txt"): v for k, v in changes.items()})
    return files

MAIN0 = state()
FA1 = state(config_txt="mode=a\n")
FB1 = state(src__numbers_txt="1\n2\n3\n4\n")
FA2 = state(config_txt="mode=a2\n")
FORK = state(config_txt="mode=fork\n")
MAIN1 = FA2
FB2 = state(src__numbers_txt="1\n2\n3\n4\n5\n")
PR2_MERGE = state(config_txt="mode=a2\n", src__numbers_txt="1\n2\n3\n4\n5\n")
DOCS = state(config_txt="mode=a2\n", src__numbers_txt="1\n2\n3\n4\n5\n", src__greeting_txt="hello, docs\n")
QUEUE_REF = "gh-readonly-queue/main/pr-2-9f3c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807"

# (label, kind, branch / tag / PR number, base branch or head branch, fork?, contents, extra)
# kinds: push, pr (base, head in extra), queue (PR number, base), tag, dispatch.
TRACE = [
    ("push main", "push", "main", None, False, MAIN0, {}),
    ("push feature/a (new)", "push", "feature/a", None, False, FA1, {}),
    ("push tax-rounding (new)", "push", "tax-rounding", None, False, FB1, {}),
    ("PR 1 opened a->main", "pr", 1, "main", False, FA1, {"head": "feature/a"}),
    ("push feature/a", "push", "feature/a", None, False, FA2, {}),
    ("PR 1 synchronize", "pr", 1, "main", False, FA2, {"head": "feature/a"}),
    ("PR 2 opened tax->main", "pr", 2, "main", False, FB1, {"head": "tax-rounding"}),
    ("fork PR 3 (head main)", "pr", 3, "main", True, FORK, {"head": "main"}),
    ("merge PR 1 (merge commit)", "push", "main", None, False, MAIN1,
     {"message": "Merge pull request #1 from example/feature/a\n\nUse mode a2"}),
    ("push tax-rounding", "push", "tax-rounding", None, False, FB2, {}),
    ("PR 2 synchronize", "pr", 2, "main", False, PR2_MERGE, {"head": "tax-rounding"}),
    ("merge queue PR 2", "queue", 2, "main", False, PR2_MERGE, {}),
    ("tag v1.0", "tag", "v1.0", None, False, MAIN1, {}),
    ("merge PR 2 (squash)", "push", "main", None, False, PR2_MERGE,
     {"message": "Round taxes to the cent (#2)\n\n* numbers up to 5"}),
    ("workflow_dispatch main", "dispatch", "main", None, False, PR2_MERGE, {}),
    ("push docs (new)", "push", "docs", None, False, DOCS, {}),
]


def key_of(kind, name):
    if kind == "queue":
        return QUEUE_REF.replace("/", "-")
    return f"pr-{name}" if kind == "pr" else str(name).replace("/", "-")


def alternative(strategy, kind, name, base, fork):
    """(read tags, write tag) of the three alternatives."""
    if strategy == "shared":
        return ["buildcache"], "buildcache"
    if strategy == "per-branch":
        k = key_of(kind, name)
        return [k], k
    # int128: push reads/writes its branch; tags read the default branch; PRs and merge queues
    # read base and default.
    if kind in ("push", "dispatch"):
        return [name.replace("/", "-")], name.replace("/", "-")
    if kind == "tag":
        return ["main"], None
    return list(dict.fromkeys([base, "main"])), None


def tags_with_digests(repo):
    path = repo.split("/", 1)[1]
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/{path}/tags/list") as r:
            tags = json.load(r).get("tags") or []
    except urllib.error.HTTPError:
        return {}
    out = {}
    for t in tags:
        req = urllib.request.Request(f"http://{REGISTRY}/v2/{path}/manifests/{t}", method="HEAD", headers={"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"})
        with urllib.request.urlopen(req) as r:
            out[t] = r.headers["Docker-Content-Digest"]
    return out


def context_for(files):
    d = tempfile.mkdtemp(dir=WORK)
    subprocess.run(["cp", "-r", "example/.", d], check=True)
    for path, text in files.items():
        with open(os.path.join(d, path), "w") as f:
            f.write(text)
    return d


def payload(kind, name, base, fork, extra):
    """GitHub's event name, GITHUB_REF and payload, with the fields GitHub documents."""
    repo = {"full_name": FULL_NAME, "default_branch": "main", "private": False}
    if kind == "pr":
        head_repo = {"full_name": "someone/app" if fork else FULL_NAME, "fork": fork}
        return "pull_request", f"refs/pull/{name}/merge", {"number": name, "pull_request": {"number": name, "head": {"ref": extra["head"], "sha": "0" * 40, "repo": head_repo}, "base": {"ref": base, "repo": repo}}, "repository": repo}
    if kind == "queue":
        git_ref = f"refs/heads/{QUEUE_REF}"
        return "merge_group", git_ref, {"action": "checks_requested", "merge_group": {"head_ref": git_ref, "base_ref": f"refs/heads/{base}", "head_commit": {"message": "Merge queue"}}, "repository": repo}
    if kind == "dispatch":
        git_ref = f"refs/heads/{name}"
        return "workflow_dispatch", git_ref, {"ref": git_ref, "inputs": {}, "repository": repo}
    git_ref = f"refs/tags/{name}" if kind == "tag" else f"refs/heads/{name}"
    body = {"ref": git_ref, "repository": repo}
    if "message" in extra:
        body["head_commit"] = {"id": "1" * 40, "message": extra["message"]}
    return "push", git_ref, body


def run_event(strategy, repo, event, index):
    label, kind, name, base, fork, files, extra = event
    context = context_for(files)
    out = os.path.join(WORK, f"{strategy}-{index}.json")
    args = [REGCACHE, "build", "--tag", f"{repo}:dev", "--network", "none", "--output-format", "json", "--output-file", out]
    env = dict(os.environ)
    failed_job = False
    if strategy in ("regcache", "oracle"):
        event_name, git_ref, body = payload(kind, name, base, fork, extra)
        path = os.path.join(WORK, f"event-{index}.json")
        with open(path, "w") as f:
            json.dump(body, f)
        env.update(GITHUB_ACTIONS="true", GITHUB_EVENT_NAME=event_name, GITHUB_REF=git_ref, GITHUB_EVENT_PATH=path, GITHUB_REPOSITORY=FULL_NAME, RUNNER_TEMP=WORK)
        args += ["--cache-ref", repo]
        if strategy == "oracle":
            args += [a for t in tags_with_digests(repo) if t != "dev" for a in ("--cache-from", f"type=registry,ref={repo}:{t}")]
    else:
        read, write = alternative(strategy, kind, name, base, fork)
        if fork and write:
            failed_job, write = True, None  # the read-only token refuses the export
        args += ["--cache-policy", "off", "--cache-ref", repo]
        args += [a for t in read for a in ("--cache-from", f"type=registry,ref={repo}:buildcache-{t}" if t != "buildcache" else f"type=registry,ref={repo}:buildcache")]
        if write:
            ref = f"{repo}:buildcache-{write}" if write != "buildcache" else f"{repo}:buildcache"
            args += ["--cache-to", f"type=registry,ref={ref},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"]
    args.append(context)
    wipe()
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{strategy} / {label} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    with open(out) as f:
        o = json.load(f)
    return int(o["cached-steps"]), int(o["total-steps"]), float(o["build-seconds"]), failed_job


rows = []
per_event = {}
for strategy in ("shared", "per-branch", "int128", "regcache", "oracle"):
    repo = f"{REGISTRY}/trace/{strategy}-{STAMP}"
    cached = total = cold = failed = pollution = 0
    seconds = 0.0
    for i, event in enumerate(TRACE):
        before = tags_with_digests(repo)
        c, t, s, f = run_event(strategy, repo, event, i)
        after = tags_with_digests(repo)
        label, kind, name, _, fork, _, _ = event
        if kind in ("pr", "queue"):
            own = f"buildcache-{key_of(kind, name)}"
            changed = [tag for tag, d in after.items() if tag not in ("dev", own) and before.get(tag) != d]
            pollution += 1 if changed else 0
        cached, total, seconds, failed = cached + c, total + t, seconds + s, failed + f
        cold += 1 if c == 0 else 0
        per_event.setdefault(label, {})[strategy] = f"{c}/{t}"
    rows.append((strategy, cached, total, seconds, cold, pollution, failed))

print(f"\nevent trace: {len(TRACE)} events, each on a wiped builder, per strategy (cached/cacheable steps)")
strategies = [r[0] for r in rows]
print(f"{'event':28}" + "".join(f"{s:>12}" for s in strategies))
for label, cells in per_event.items():
    print(f"{label:28}" + "".join(f"{cells[s]:>12}" for s in strategies))
oracle = next(r[1] for r in rows if r[0] == "oracle")
print(f"\n{'strategy':12} {'cached':>7} {'of':>4} {'ratio':>6} {'of oracle':>10} {'build s':>8} {'cold':>5} {'PR/queue/fork changed another cache':>37} {'fork jobs failed':>17}")
for strategy, cached, total, seconds, cold, pollution, failed in rows:
    print(f"{strategy:12} {cached:>7} {total:>4} {cached / total:>6.3f} {cached / oracle:>10.3f} {seconds:>8.2f} {cold:>5} {pollution:>37} {failed:>17}")
