#!/usr/bin/env python3
"""Differential check by hand (not in CI): the same inputs through docker/build-push-action's
released `dist/index.cjs` and through `regcache action`, each with a recording `docker` first
on PATH, and the `docker buildx build` argv of both compared.

    python3 scripts/bpa-differential.py <path to build-push-action's dist/index.cjs> [regcache binary]

Nothing of build-push-action is kept here: bring its repository with the search tool's fetch
(or `git clone`) and point at its `dist/index.cjs`. Other `docker` commands (build-push-action
asks `docker version`, `buildx version`, `buildx inspect`) go to the real docker, so the engine
must be running (`bash scripts/engine.sh start`). Each side's argv is compared without
regcache's own flags (`--progress`, its cache entries) and with temporary paths as
placeholders; `--cache-from`/`--cache-to` of the inputs are compared as a list of their own.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

FAKE = """#!/bin/sh
if [ "$1" = buildx ] && [ "$2" = build ] && [ "$3" != --help ]; then
  printf '%s\\0' "$@" > "$FAKE_ARGV"
  exit 0
fi
exec "$REAL_DOCKER" "$@"
"""

# Every build-push-action v7 input, in combinations that together set each one.
COMMON = {"load": "false", "no-cache": "false", "push": "false", "pull": "false"}
CASES = {
    "every input": {
        "add-hosts": "docker:10.180.0.1,foo:10.0.0.1",
        "allow": "network.host,security.insecure",
        "annotations": "index:org.example.a=1\nmanifest:org.example.b=two words",
        "attests": "type=sbom,generator=image\ntype=provenance,mode=min",
        "build-args": 'MY_ARG=val1,val2\n"MULTILINE=aaaa\nbbbb"\nFOO=bar#baz',
        "build-contexts": "extra=./extra\nbase=docker-image://alpine",
        "cache-from": "type=registry,ref=127.0.0.1:5055/app:cache-x",
        "cache-to": "type=local,dest=/tmp/cache-out",
        "cgroup-parent": "parent",
        "context": ".",
        "file": "./Dockerfile",
        "labels": 'org.opencontainers.image.title=app\norg.opencontainers.image.description=says "hi", twice',
        "network": "none",
        "no-cache": "true",
        "no-cache-filters": "build,test",
        "outputs": 'type=image,"name=127.0.0.1:5055/app:a,127.0.0.1:5055/app:b",push=false',
        "platforms": "linux/amd64,linux/arm64",
        "provenance": "mode=max",
        "pull": "true",
        "sbom": "true",
        "secrets": 'GIT_AUTH_TOKEN=abc,def\n"MULTI=line one\nline two"\nPLAIN=x',
        "secret-envs": "ENV_ONE=HOME,ENV_TWO=PATH",
        "secret-files": "FILE_ONE=@SECRET_FILE@",
        "shm-size": "2g",
        "ssh": "default",
        "tags": "127.0.0.1:5055/app:dev,127.0.0.1:5055/app:latest",
        "target": "final",
        "ulimit": "nofile=1024:1024\nnproc=3",
        "github-token": "ghs_differential",
    },
    "defaults: Git context, token, default provenance (private)": {
        "github-token": "ghs_differential",
    },
    "public repository, pull request head ref": {
        "github-token": "ghs_differential",
        "@env": {
            "GITHUB_REF": "refs/pull/7/merge",
            "DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF": "true",
        },
        "@payload": {
            "repository": {"private": False, "full_name": "docker/build-push-action"},
            "pull_request": {
                "number": 7,
                "base": {"ref": "master", "repo": {"full_name": "docker/build-push-action"}},
                "head": {"ref": "feature", "sha": "0123456789abcdef0123456789abcdef01234567",
                         "repo": {"full_name": "docker/build-push-action", "fork": False}},
            },
        },
    },
    "defaultContext templates, no default attestations, load": {
        "context": "{{defaultContext}}:sub",
        "build-contexts": "base={{defaultContext}}",
        "load": "true",
        "provenance": "false",
        "github-token": "ghs_differential",
        "@env": {"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"},
    },
    "own GIT_AUTH_TOKEN secret, attests only": {
        "secrets": "GIT_AUTH_TOKEN=mine",
        "attests": "type=provenance,mode=max\ntype=sbom",
        "github-token": "ghs_differential",
    },
}


def normalise(argv, temp):
    out, cache = [], []
    words = iter(argv[1:] if argv and argv[0] == "buildx" else argv)
    for word in words:
        if word == "--progress=rawjson":
            continue
        if word in ("--cache-from", "--cache-to"):
            cache.append((word, next(words)))
            continue
        if word in ("--iidfile", "--metadata-file"):
            out += [word, "<" + word[2:] + ">"]
            next(words)
            continue
        out.append(re.sub(re.escape(temp) + r"/[^,\"]*", "<temp file>", word))
    return out, cache


def run(command, env, temp):
    record = os.path.join(temp, "argv")
    if os.path.exists(record):
        os.remove(record)
    env = dict(env, FAKE_ARGV=record)
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=env["GITHUB_WORKSPACE"])
    argv = open(record).read().split("\0")[:-1] if os.path.exists(record) else []
    return done, argv


def main():
    index = os.path.abspath(sys.argv[1])
    regcache = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "target/debug/regcache")
    real_docker = shutil.which("docker")
    differing = 0
    for name, inputs in CASES.items():
        with tempfile.TemporaryDirectory() as temp:
            bin_dir = os.path.join(temp, "bin")
            os.makedirs(bin_dir)
            with open(os.path.join(bin_dir, "docker"), "w") as f:
                f.write(FAKE)
            os.chmod(os.path.join(bin_dir, "docker"), 0o755)
            workspace = os.path.join(temp, "workspace")
            os.makedirs(os.path.join(workspace, "extra"))
            secret_file = os.path.join(workspace, "secret.txt")
            open(secret_file, "w").write("from a file")
            payload = os.path.join(temp, "event.json")
            json.dump(inputs.get("@payload", {"repository": {"private": True}}), open(payload, "w"))
            runner_temp = os.path.join(temp, "runner-temp")
            os.makedirs(runner_temp)
            env = {
                "PATH": bin_dir + ":" + os.environ["PATH"],
                "HOME": os.environ.get("HOME", "/root"),
                "DOCKER_HOST": os.environ.get("DOCKER_HOST", ""),
                "DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG", os.path.join(temp, "docker-config")),
                "REAL_DOCKER": real_docker,
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": "docker/build-push-action",
                "GITHUB_REF": "refs/heads/master",
                "GITHUB_SHA": "fedcba9876543210fedcba9876543210fedcba98",
                "GITHUB_RUN_ID": "123456789",
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_EVENT_NAME": "push",
                "GITHUB_EVENT_PATH": payload,
                "GITHUB_WORKSPACE": workspace,
                "GITHUB_OUTPUT": os.path.join(temp, "output"),
                "GITHUB_STATE": os.path.join(temp, "state"),
                "GITHUB_API_URL": "http://127.0.0.1:9",
                "RUNNER_TEMP": runner_temp,
                "TMPDIR": runner_temp,
            }
            for file in ("output", "state"):
                open(os.path.join(temp, file), "w").close()
            env.update(inputs.get("@env", {}))
            for key, value in {**COMMON, **inputs}.items():
                if not key.startswith("@"):
                    env["INPUT_" + key.upper()] = value.replace("@SECRET_FILE@", secret_file)
            bpa, bpa_argv = run(["node", index], env, temp)
            ours, our_argv = run([regcache, "action"], env, temp)
            (bpa_norm, bpa_cache), (our_norm, our_cache) = normalise(bpa_argv, temp), normalise(our_argv, temp)
            same = bpa_norm == our_norm and bpa_argv and our_argv
            differing += not same
            print(f"== {name}: {'same' if same else 'DIFFERENT'} ({len(bpa_norm)} words)")
            if not same:
                print("  build-push-action:", json.dumps(bpa_norm), "\n  regcache:         ", json.dumps(our_norm))
                if not bpa_argv:
                    print(bpa.stdout[-3000:], bpa.stderr[-2000:])
                if not our_argv:
                    print(ours.stdout[-3000:], ours.stderr[-2000:])
            print("  cache entries, build-push-action:", bpa_cache)
            print("  cache entries, regcache:         ", our_cache)
    sys.exit(1 if differing else 0)


main()
