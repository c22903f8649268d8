#!/usr/bin/env bash
# The action's launcher: finds the regcache binary for this runner and runs it with "$@".
#
# Order: `binary-path` (REGCACHE_BINARY_PATH) if given; else the release archive for
# RUNNER_OS/RUNNER_ARCH, version and SHA-256 read from this folder (release.env, SHA256SUMS,
# both written by the release workflow in the tagged commit), taken from
# RUNNER_TOOL_CACHE/regcache/<version>/<platform> when an earlier job unpacked it, otherwise
# downloaded from the release (or REGCACHE_DOWNLOAD_URL), verified and unpacked there.
#
# Nothing runs unless the archive's SHA-256 matches the committed one. The version is never
# taken from github.action_ref, which is empty in composite actions (actions/runner#2473).
# Exit codes as regcache's own: 2 for a bad input or an unsupported runner, 1 for a failure.
set -euo pipefail

dist=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# One workflow-command line (escaped as actions/toolkit's `escapeData`), then exit.
fail() {
  local code=$1 message=$2
  message=${message//'%'/'%25'}
  message=${message//$'\r'/'%0D'}
  message=${message//$'\n'/'%0A'}
  printf '::error title=regcache setup::%s\n' "$message"
  exit "$code"
}

if [ -n "${REGCACHE_BINARY_PATH:-}" ]; then
  [ -f "$REGCACHE_BINARY_PATH" ] && [ -x "$REGCACHE_BINARY_PATH" ] ||
    fail 2 "input \`binary-path\`: $REGCACHE_BINARY_PATH is not an executable file; give the path of a regcache binary, or leave it empty to use the release binary"
  exec "$REGCACHE_BINARY_PATH" "$@"
fi

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
case "$os/$arch" in
  Linux/X64 | Linux/x86_64) platform=linux-x64 ;;
  Linux/ARM64 | Linux/aarch64) platform=linux-arm64 ;;
  macOS/ARM64 | Darwin/arm64) platform=macos-arm64 ;;
  *) fail 2 "regcache has no release binary for RUNNER_OS=$os RUNNER_ARCH=$arch; supported: Linux X64, Linux ARM64, macOS ARM64. Set binary-path to a regcache built for this runner" ;;
esac

# release.env is data, read line by line, never sourced.
release_value() { sed -n "s/^$1=//p" "$dist/release.env" | head -n 1; }
version=$(release_value version)
repository=$(release_value repository)
[ -n "$version" ] || fail 1 "$dist/release.env names no version; this copy of the action is damaged"
asset=regcache-$version-$platform.tar.gz
expected=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$dist/SHA256SUMS")
[ -n "$expected" ] ||
  fail 1 "this commit of the action records no release binary for $platform (dist/SHA256SUMS has no $asset); use a released version (uses: <owner>/regcache@v<version>) or set binary-path"

cache_root=${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/regcache
home=$cache_root/$version/$platform
# The marker holds the checksum it was unpacked from, so a different archive of the same
# version (a re-release, another download-url) is fetched again rather than trusted.
if [ -x "$home/regcache" ] && [ "$(cat "$home/.sha256" 2>/dev/null)" = "$expected" ]; then
  exec "$home/regcache" "$@"
fi

if [ -n "${REGCACHE_DOWNLOAD_URL:-}" ]; then
  case "$REGCACHE_DOWNLOAD_URL" in
    https://* | http://*) base=${REGCACHE_DOWNLOAD_URL%/} ;;
    *) fail 2 "input \`download-url\`: \`$REGCACHE_DOWNLOAD_URL\` is not an http(s) URL; give the base URL the release assets are under (the archive is fetched from <download-url>/$asset)" ;;
  esac
else
  [ -n "$repository" ] || fail 1 "$dist/release.env names no repository to download from; set download-url or binary-path"
  base=${GITHUB_SERVER_URL:-https://github.com}/$repository/releases/download/v$version
fi
url=$base/$asset

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=$(curl --silent --show-error --location --retry 3 --connect-timeout 10 \
  --output "$work/$asset" --write-out '%{http_code}' "$url" 2>"$work/curl.err") ||
  fail 1 "downloading $url failed: $(head -c 300 "$work/curl.err"); set download-url to a mirror, or binary-path"
case "$status" in
  200) ;;
  404) fail 1 "$url does not exist (HTTP 404): the release has no $asset; set download-url to where the release assets are, or binary-path" ;;
  *) fail 1 "downloading $url answered HTTP $status; set download-url to a mirror, or binary-path" ;;
esac

if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$work/$asset" | cut -d' ' -f1)
else
  actual=$(shasum -a 256 "$work/$asset" | cut -d' ' -f1)
fi
[ "$actual" = "$expected" ] ||
  fail 1 "checksum mismatch for $url: expected sha256 $expected (dist/SHA256SUMS), got $actual; nothing was run. The download was altered, or download-url serves another build"

mkdir -p "$work/unpacked"
tar -xzf "$work/$asset" -C "$work/unpacked" ||
  fail 1 "unpacking $asset failed; nothing was run"
unpacked=$work/unpacked/regcache-$version-$platform
[ -x "$unpacked/regcache" ] || fail 1 "$asset holds no regcache-$version-$platform/regcache; nothing was run"
printf '%s\n' "$expected" >"$unpacked/.sha256"

# Moved into place whole, so a concurrent or interrupted job never sees half a directory.
mkdir -p "$(dirname "$home")"
rm -rf "$home"
mv "$unpacked" "$home" 2>/dev/null || [ "$(cat "$home/.sha256" 2>/dev/null)" = "$expected" ] ||
  fail 1 "could not move regcache into $home"
rm -rf "$work"
trap - EXIT
exec "$home/regcache" "$@"
