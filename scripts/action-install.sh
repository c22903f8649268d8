#!/usr/bin/env bash
# Installs regcache for the composite action: the binary given as `binary-path`, or this
# action's own source built once per commit and kept in the runner's tool cache.
set -euo pipefail
if [ -n "${BINARY_PATH:-}" ]; then
  [ -x "$BINARY_PATH" ] || { echo "::error title=binary-path::$BINARY_PATH is not an executable file"; exit 2; }
  echo "bin=$BINARY_PATH" >>"$GITHUB_OUTPUT"
  exit 0
fi
src=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is set by the runner}
version=$(git -C "$src" rev-parse HEAD 2>/dev/null || sed -n 's/^version = "\(.*\)"/\1/p' "$src/Cargo.toml" | head -1)
root="${RUNNER_TOOL_CACHE:-$HOME/.cache}/regcache/$version"
if [ ! -x "$root/bin/regcache" ]; then
  command -v cargo >/dev/null || { echo "::error title=regcache::cargo is needed to build regcache; install a Rust toolchain or pass binary-path"; exit 2; }
  cargo install --quiet --locked --path "$src" --root "$root"
fi
echo "bin=$root/bin/regcache" >>"$GITHUB_OUTPUT"
