#!/usr/bin/env bash
# The action's startup: the release archive of this machine's target (scripts/release.sh
# package, a release build), served on loopback, started through dist/launch.sh on an empty
# tool cache and then from the tool cache, against the bare binary. usage: bench/launcher.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
assets=$(mktemp -d)
bash scripts/release.sh package "$assets" >/dev/null
python3 bench/launcher.py "$runs" "$assets"
rm -rf "$assets"
