#!/usr/bin/env bash
# The test command: provisions and starts the real engine and registry (scripts/engine.sh),
# installs the real clients the action is tested through (scripts/tools.sh: act, zizmor,
# actionlint), then runs every test: unit, property, fixture, action.yml, lint, bad-input,
# end-to-end, and the action through act.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/engine.sh start
bash scripts/tools.sh install
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
