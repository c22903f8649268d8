#!/usr/bin/env bash
# The test command: provisions and starts the real engine and registry, and installs buildah and podman
# (scripts/engine.sh), installs the real clients regcache is tested through (scripts/tools.sh:
# act, zizmor, actionlint, gitlab-ci-local), then runs every test: unit, property, fixture,
# action.yml, lint, bad-input, end-to-end on buildx (the socket, and dockerds on plain TCP and on
# TCP with TLS, as docker:dind serves), buildah and podman, the container image, the action
# through act and the GitLab pipeline through gitlab-ci-local.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh start
bash scripts/tools.sh install
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
