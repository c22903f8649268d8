#!/usr/bin/env bash
# The action's launcher: finds the regcache binary for this runner and runs it with "$@".
#
# Order: `binary-path` (REGCACHE_BINARY_PATH) if given; else the release archive for
# RUNNER_OS/RUNNER_ARCH, version and SHA-256 read from this folder (release.env, SHA256SUMS,
# both written by the release workflow in the tagged commit), taken from
# RUNNER_TOOL_CACHE/regcache/<version>/<platform> when an earlier job unpacked it, otherwise
# downloaded from the release (or REGCACHE_DOWNLOAD_URL), verified and unpacked there.
#
# Nothing runs unless its SHA-256 matches the committed one: a download is checked as an archive
# and the binary inside it is checked before it runs; a binary found in the tool cache is hashed
# again before every run, since on a persistent self-hosted runner an earlier job may have put
# anything there. The version is never taken from github.action_ref, which is empty in
# composite actions (actions/runner#2473).
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
name=regcache-$version-$platform
asset=$name.tar.gz
committed() { awk -v a="$1" '$2 == a || $2 == "*" a { print $1; exit }' "$dist/SHA256SUMS"; }
expected=$(committed "$asset")
[ -n "$expected" ] ||
  fail 1 "this commit of the action records no release binary for $platform (dist/SHA256SUMS has no $asset); use a released version (uses: <owner>/regcache@v<version>) or set binary-path"
expected_binary=$(committed "$name/regcache")
[ -n "$expected_binary" ] ||
  fail 1 "dist/SHA256SUMS records $asset but not the hash of its binary ($name/regcache); this copy of the action is damaged, or from a release made before binaries were hashed: use a newer release or set binary-path"

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

cache_root=${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/regcache
home=$cache_root/$version/$platform
# Whatever is in the tool cache runs only when its own bytes hash to the committed value; a
# binary that does not (planted, damaged, another build) is replaced by a fresh download.
if [ -f "$home/regcache" ] && [ -x "$home/regcache" ] && [ "$(sha256_of "$home/regcache")" = "$expected_binary" ]; then
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

actual=$(sha256_of "$work/$asset")
[ "$actual" = "$expected" ] ||
  fail 1 "checksum mismatch for $url: expected sha256 $expected (dist/SHA256SUMS), got $actual; nothing was run. The download was altered, or download-url serves another build"

mkdir -p "$work/unpacked"
tar -xzf "$work/$asset" -C "$work/unpacked" ||
  fail 1 "unpacking $asset failed; nothing was run"
unpacked=$work/unpacked/$name
[ -f "$unpacked/regcache" ] && [ -x "$unpacked/regcache" ] && [ ! -L "$unpacked/regcache" ] ||
  fail 1 "$asset holds no $name/regcache; nothing was run"
[ "$(sha256_of "$unpacked/regcache")" = "$expected_binary" ] ||
  fail 1 "the binary in $asset does not match dist/SHA256SUMS ($name/regcache); nothing was run"

# Moved into place whole, so an interrupted job never leaves half a directory; whatever was
# there (a planted or damaged binary) goes.
mkdir -p "$(dirname "$home")"
rm -rf "$home"
mv "$unpacked" "$home" || fail 1 "could not move regcache into $home"
rm -rf "$work"
trap - EXIT
[ "$(sha256_of "$home/regcache")" = "$expected_binary" ] ||
  fail 1 "$home/regcache changed while it was put in place; nothing was run"
exec "$home/regcache" "$@"
