#!/usr/bin/env bash
# Builds regcache's container image (image/Dockerfile) on the local engine.
#
#   scripts/image.sh bases
#       pushes two local stand-ins for the public bases, made from this machine's files, to the
#       engine's registry: base/runtime:1 (busybox, /root, /tmp and the shared libraries the
#       docker CLI, buildx and regcache load) for BASE, and base/docker-cli:2 (docker, buildx
#       and the CA bundle where the official docker:cli image keeps them) for DOCKER_CLI.
#   scripts/image.sh build TAG [BINARY]
#       builds the `docker` target for this machine's platform with BINARY (default: the
#       debug build) as regcache, FROM those local bases, into the engine's image store.
#
# The engine comes from scripts/engine.sh (started by the caller).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/engine.sh env)"
RUNTIME=$REGCACHE_REGISTRY/base/runtime:1
DOCKER_CLI=$REGCACHE_REGISTRY/base/docker-cli:2
BUILDX=$REGCACHE_ENGINE_DIR/docker-config/cli-plugins/docker-buildx

log() { printf 'image: %s\n' "$*" >&2; }

# Each file with its path, under ROOT, following links.
add() { local root=$1; shift; for f in "$@"; do mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"; done; }

push_rootfs() { # push_rootfs DIR TAG
  tar -C "$1" -c . | docker import - "$2" >/dev/null
  docker push -q "$2" >/dev/null
  docker image rm -f "$2" >/dev/null
  log "pushed $2"
}

cmd_bases() {
  local docker_bin; docker_bin=$(command -v docker)
  local binary=${1:-${CARGO_TARGET_DIR:-target}/debug/regcache}
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  if ! curl -sf -o /dev/null "http://$REGCACHE_REGISTRY/v2/base/runtime/manifests/1"; then
    local root=$work/runtime
    mkdir -p "$root/bin" "$root/tmp" "$root/root"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for tool in sh ls cat mkdir; do ln -s busybox "$root/bin/$tool"; done
    # The loader and every library the three programs load, at the paths they load them from.
    mapfile -t libs < <(ldd "$docker_bin" "$(readlink -f "$BUILDX")" "$binary" 2>/dev/null |
      grep -o '/[^ ]*\.so[^ ]*' | sort -u)
    add "$root" "${libs[@]}"
    push_rootfs "$root" "$RUNTIME"
  fi
  if ! curl -sf -o /dev/null "http://$REGCACHE_REGISTRY/v2/base/docker-cli/manifests/2"; then
    local cli=$work/cli
    mkdir -p "$cli/usr/local/bin" "$cli/usr/local/libexec/docker/cli-plugins" "$cli/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$cli/etc/ssl/certs/ca-certificates.crt"
    cp -L "$docker_bin" "$cli/usr/local/bin/docker"
    cp -L "$BUILDX" "$cli/usr/local/libexec/docker/cli-plugins/docker-buildx"
    push_rootfs "$cli" "$DOCKER_CLI"
  fi
}

cmd_build() {
  local tag=${1:?usage: image.sh build TAG [BINARY]}
  local binary=${2:-${CARGO_TARGET_DIR:-target}/debug/regcache}
  [ -x "$binary" ] || { log "no regcache binary at $binary (cargo build first)"; exit 1; }
  cmd_bases "$binary"
  local context; context=$(mktemp -d)
  trap 'rm -rf "$context"' RETURN
  local platform; platform=$(docker version -f '{{.Server.Os}}/{{.Server.Arch}}')
  mkdir -p "$context/$platform"
  cp "$binary" "$context/$platform/regcache"
  docker buildx build --quiet --network none -f image/Dockerfile --target docker \
    --build-arg "BASE=$RUNTIME" --build-arg "DOCKER_CLI=$DOCKER_CLI" \
    -t "$tag" "$context" >/dev/null
  log "built $tag"
}

case "${1:-}" in
  bases) shift; cmd_bases "$@" ;;
  build) shift; cmd_build "$@" ;;
  *) echo "usage: $0 bases [BINARY]|build TAG [BINARY]" >&2; exit 2 ;;
esac
