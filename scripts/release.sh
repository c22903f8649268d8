#!/usr/bin/env bash
# Release archives and the records the action's launcher (dist/launch.sh) checks them against.
#
#   scripts/release.sh package OUT_DIR [TARGET]
#       cargo build --release (for TARGET, a Rust target triple, or this machine's), then
#       OUT_DIR/regcache-<version>-<platform>.tar.gz holding regcache-<version>-<platform>/
#       {regcache, LICENSE-MIT, LICENSE-APACHE, README.md}, and its lines in OUT_DIR/SHA256SUMS:
#       the archive's hash and the hash of the regcache binary inside it.
#       <platform> is the runner's name for it: linux-x64, linux-arm64, macos-arm64.
#   scripts/release.sh archive OUT_DIR BINARY PLATFORM
#       the same archive and SHA256SUMS lines for an already built BINARY (the tests use theirs).
#   scripts/release.sh sums ASSETS_DIR
#       ASSETS_DIR/SHA256SUMS anew for every regcache-*.tar.gz in it (the release workflow's).
#   scripts/release.sh record DIST_DIR VERSION REPOSITORY SHA256SUMS
#       writes DIST_DIR/release.env and DIST_DIR/SHA256SUMS, as the tagged commit carries them.
#
# The release workflow runs both; the launcher tests run both for this machine's target, so
# they download and verify archives of exactly this layout.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'release.sh: %s\n' "$*" >&2; exit 2; }

version() { sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1; }

platform_of() { # a target triple → the launcher's platform name
  case "$1" in
    x86_64-unknown-linux-*) echo linux-x64 ;;
    aarch64-unknown-linux-*) echo linux-arm64 ;;
    aarch64-apple-darwin) echo macos-arm64 ;;
    *) die "no launcher platform for target $1 (known: x86_64/aarch64 Linux, aarch64 macOS)" ;;
  esac
}

sha256() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }

cmd_package() {
  local out=${1:?usage: release.sh package OUT_DIR [TARGET]} target=${2:-}
  local host; host=$(rustc -vV | sed -n 's/^host: //p')
  local triple=${target:-$host} binary
  if [ -n "$target" ]; then
    cargo build --release --locked --target "$target"
    binary=${CARGO_TARGET_DIR:-target}/$target/release/regcache
  else
    cargo build --release --locked
    binary=${CARGO_TARGET_DIR:-target}/release/regcache
  fi
  cmd_archive "$out" "$binary" "$(platform_of "$triple")"
}

cmd_archive() {
  local out=${1:?usage: release.sh archive OUT_DIR BINARY PLATFORM} binary=${2:?binary} platform=${3:?platform}
  case "$platform" in linux-x64 | linux-arm64 | macos-arm64) ;; *) die "unknown platform $platform" ;; esac
  local name=regcache-$(version)-$platform
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local stage; stage=$(mktemp -d)
  mkdir "$stage/$name"
  cp "$binary" LICENSE-MIT LICENSE-APACHE README.md "$stage/$name/"
  # Fixed order, owner and times, so the same binary always gives the same archive bytes.
  local tar=tar; command -v gtar >/dev/null && tar=gtar
  "$tar" -C "$stage" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$name" |
    gzip -n -9 >"$out/$name.tar.gz"
  rm -rf "$stage"
  sum_lines "$out/$name.tar.gz" "$out/SHA256SUMS"
  echo "$out/$name.tar.gz"
}

# Replaces ARCHIVE's two lines in SUMS: the archive's hash, and the hash of the binary inside it
# (`<name>/regcache`), which the launcher checks before every run of a cached binary.
sum_lines() {
  local archive=$1 sums=$2
  local name; name=$(basename "$archive" .tar.gz)
  local unpacked; unpacked=$(mktemp -d)
  tar -xzf "$archive" -C "$unpacked" "$name/regcache"
  touch "$sums"
  grep -v -e "  $name.tar.gz\$" -e "  $name/regcache\$" "$sums" >"$sums.new" || true
  printf '%s  %s\n' "$(sha256 "$archive")" "$name.tar.gz" >>"$sums.new"
  printf '%s  %s\n' "$(sha256 "$unpacked/$name/regcache")" "$name/regcache" >>"$sums.new"
  rm -rf "$unpacked"
  sort -k2 "$sums.new" >"$sums" && rm "$sums.new"
}

cmd_sums() {
  local dir=${1:?usage: release.sh sums ASSETS_DIR}
  rm -f "$dir/SHA256SUMS"
  local archive found=0
  for archive in "$dir"/regcache-*.tar.gz; do
    [ -f "$archive" ] || continue
    sum_lines "$archive" "$dir/SHA256SUMS"
    found=$((found + 1))
  done
  [ "$found" -gt 0 ] || die "no regcache-*.tar.gz in $dir"
}

cmd_record() {
  local dist=${1:?usage: release.sh record DIST_DIR VERSION REPOSITORY SHA256SUMS}
  local version=${2:?version} repository=${3:?repository} sums=${4:?SHA256SUMS file}
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.+-][0-9A-Za-z.-]+)?$ ]] || die "version $version is not semver (e.g. 1.2.3)"
  [[ $repository =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "repository $repository is not owner/name"
  grep -qE "^[0-9a-f]{64}  regcache-$version-[a-z0-9-]+\.tar\.gz$" "$sums" || die "$sums has no archive of version $version"
  local archive
  for archive in $(sed -n "s/^[0-9a-f]\{64\}  \(regcache-$version-[a-z0-9-]*\)\.tar\.gz$/\1/p" "$sums"); do
    grep -qE "^[0-9a-f]{64}  $archive/regcache$" "$sums" || die "$sums has no hash of the binary in $archive.tar.gz (scripts/release.sh sums writes both)"
  done
  cat >"$dist/release.env" <<EOT
# What the launcher downloads: written by .github/workflows/release.yml (scripts/release.sh
# record) in each release's tagged commit. Read as data by launch.sh, never sourced.
version=$version
repository=$repository
EOT
  grep -E "  regcache-$version-[a-z0-9-]+(\.tar\.gz|/regcache)$" "$sums" >"$dist/SHA256SUMS"
}

case "${1:-}" in
  package) shift; cmd_package "$@" ;;
  archive) shift; cmd_archive "$@" ;;
  record) shift; cmd_record "$@" ;;
  sums) shift; cmd_sums "$@" ;;
  *) die "usage: release.sh package OUT_DIR [TARGET] | archive OUT_DIR BINARY PLATFORM | sums ASSETS_DIR | record DIST_DIR VERSION REPOSITORY SHA256SUMS" ;;
esac
