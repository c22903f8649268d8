#!/usr/bin/env bash
# The test command: provisions and starts the real engine and registry (scripts/engine.sh),
# then runs every test: unit, property, fixture, action.yml, bad-input and end-to-end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh start
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
