#!/usr/bin/env bash
# Provisions and runs the real parts regcache's tests and demo need, all on loopback:
# dockerd 26 (containerd image store, so the plain `docker` driver exports registry cache),
# containerd, runc, the buildx plugin, a distribution registry with delete enabled, and a
# busybox base image pushed to that registry. Nothing outside $REGCACHE_ENGINE_DIR is changed
# except installing Debian packages from the machine's own suite (docker-registry, runc,
# busybox-static, apache2-utils for htpasswd, curl, buildah and podman for the daemonless engines,
# openssl for the TLS daemon's certificates) and, when no other engine has it, the
# default socket /var/run/docker.sock as a link to ours: act's host mode empties DOCKER_HOST,
# and hosted runners serve their engine there, so the action is tested against that path.
#
# usage: scripts/engine.sh install|start|stop|status|env|check [DOCKER_HOST]|legacy-start|tls-start|registry-start NAME PORT [htpasswd]|registry-stop NAME
set -euo pipefail

ROOT=${REGCACHE_ENGINE_DIR:-/tmp/regcache-engine}
PREFIX=$ROOT/prefix
RUN=$ROOT/run
LOGS=$ROOT/logs
REGISTRY_PORT=${REGCACHE_REGISTRY_PORT:-5055}
REGISTRY=127.0.0.1:$REGISTRY_PORT
BASE_IMAGE=$REGISTRY/base/busybox:1
LEGACY_TCP=127.0.0.1:${REGCACHE_LEGACY_TCP_PORT:-23750}
TLS_TCP=127.0.0.1:${REGCACHE_TLS_TCP_PORT:-23760}
BRIDGE=regcache0
BRIDGE_ADDRESS=172.31.213.1/24
# Trixie's dockerd 26 runs on bookworm's glibc; its runc does not, so runc comes from our own suite.
TRIXIE_PACKAGES=(docker.io containerd docker-cli docker-buildx)
LOCAL_PACKAGES=(docker-registry runc busybox-static apache2-utils curl iproute2 buildah podman openssl)

log() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

exports() {
  cat <<EOT
export PATH="$PREFIX/usr/bin:$PREFIX/usr/sbin:$PATH"
export DOCKER_HOST="unix://$RUN/docker.sock"
export DOCKER_CONFIG="$ROOT/docker-config"
export REGCACHE_REGISTRY="$REGISTRY"
export REGCACHE_BASE_IMAGE="$BASE_IMAGE"
export REGCACHE_ENGINE_DIR="$ROOT"
export REGCACHE_LEGACY_DOCKER_HOST="unix://$RUN/legacy.sock"
export REGCACHE_LEGACY_TCP_HOST="tcp://$LEGACY_TCP"
export REGCACHE_TLS_DOCKER_HOST="tcp://$TLS_TCP"
export REGCACHE_TLS_CERT_PATH="$ROOT/tls/certs/client"
export REGCACHE_TLS_OTHER_CERT_PATH="$ROOT/tls/certs/other-client"
EOT
}

install_local_packages() {
  local missing=()
  for p in "${LOCAL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing from the machine's suite: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_trixie_packages() {
  [ -x "$PREFIX/usr/sbin/dockerd" ] && [ -x "$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" ] && return 0
  local apt=$ROOT/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$apt/etc/preferences.d" "$apt/etc/apt.conf.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Dir::State::status=/dev/null"
    -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root")
  log "fetching trixie package lists into $apt (system sources untouched)"
  apt-get "${opts[@]}" update -qq >/dev/null
  (cd "$apt/debs" && apt-get "${opts[@]}" download -qq "${TRIXIE_PACKAGES[@]}" >/dev/null)
  mkdir -p "$PREFIX"
  for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$PREFIX"; done
  [ -x "$PREFIX/usr/sbin/dockerd" ] || die "dockerd missing after extracting ${TRIXIE_PACKAGES[*]}"
}

install_buildx_plugin() {
  mkdir -p "$ROOT/docker-config/cli-plugins"
  ln -sf "$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx" "$ROOT/docker-config/cli-plugins/docker-buildx"
  [ -f "$ROOT/docker-config/config.json" ] || echo '{}' >"$ROOT/docker-config/config.json"
}

cmd_install() {
  install_local_packages
  install_trixie_packages
  install_buildx_plugin
  log "installed: $("$PREFIX/usr/sbin/dockerd" --version)"
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up within ${secs}s (logs in $LOGS)"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# REGISTRY_DELETE=false starts a registry that refuses deletes (405 UNSUPPORTED).
registry_config() { # registry_config NAME PORT [HTPASSWD]
  local dir=$ROOT/registries/$1 auth=""
  mkdir -p "$dir/data"
  if [ -n "${3:-}" ]; then
    auth="auth:
  htpasswd:
    realm: regcache-test
    path: $3"
  fi
  cat >"$dir/config.yml" <<EOT
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: ${REGISTRY_DELETE:-true}
http:
  addr: 127.0.0.1:$2
$auth
EOT
  echo "$dir/config.yml"
}

cmd_registry_start() { # NAME PORT [HTPASSWD]
  local name=$1 port=$2 pid=$RUN/registry-$1.pid
  mkdir -p "$RUN" "$LOGS"
  alive "$pid" && return 0
  local config; config=$(registry_config "$name" "$port" "${3:-}")
  setsid /usr/bin/docker-registry serve "$config" >"$LOGS/registry-$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$pid"
  wait_for 10 "registry $name on 127.0.0.1:$port" curl -s -o /dev/null "http://127.0.0.1:$port/v2/"
}

cmd_registry_stop() {
  local pid=$RUN/registry-$1.pid
  if alive "$pid"; then kill "$(cat "$pid")"; for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done; fi
  rm -f "$pid"
}

start_daemons() {
  mkdir -p "$RUN" "$LOGS" "$ROOT/containerd" "$ROOT/docker"
  export PATH="$PREFIX/usr/bin:$PREFIX/usr/sbin:$PATH"
  if ! alive "$RUN/containerd.pid"; then
    cat >"$ROOT/containerd.toml" <<EOT
version = 2
root = "$ROOT/containerd/root"
state = "$RUN/containerd-state"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_apparmor = true
EOT
    setsid "$PREFIX/usr/bin/containerd" --config "$ROOT/containerd.toml" >"$LOGS/containerd.log" 2>&1 </dev/null 9>&- &
    echo $! >"$RUN/containerd.pid"
    wait_for 20 containerd test -S "$RUN/containerd.sock"
  fi
  if ! alive "$RUN/dockerd.pid"; then
    # RUN steps without --network use the bridge network, as on a runner. It is a bridge of
    # our own rather than docker0, which the classic-store daemon (bridge "none") deletes when
    # it starts; no route or NAT leads anywhere from it.
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
      ip link add "$BRIDGE" type bridge
      ip addr add "$BRIDGE_ADDRESS" dev "$BRIDGE"
      ip link set "$BRIDGE" up
    fi
    cat >"$ROOT/daemon.json" <<EOT
{"features":{"containerd-snapshotter":true},"storage-driver":"native","iptables":false,"ip6tables":false,"bridge":"$BRIDGE"}
EOT
    setsid "$PREFIX/usr/sbin/dockerd" --config-file "$ROOT/daemon.json" --containerd "$RUN/containerd.sock" \
      --data-root "$ROOT/docker" --exec-root "$RUN/docker-exec" --pidfile "$RUN/dockerd.pid" \
      -H "unix://$RUN/docker.sock" >"$LOGS/dockerd.log" 2>&1 </dev/null 9>&- &
    wait_for 60 dockerd env DOCKER_HOST="unix://$RUN/docker.sock" DOCKER_CONFIG="$ROOT/docker-config" docker version
  fi
}

push_base_image() {
  eval "$(exports)"
  curl -sf -o /dev/null "http://$REGISTRY/v2/base/busybox/manifests/1" && return 0
  local rootfs=$ROOT/busybox-rootfs
  rm -rf "$rootfs"; mkdir -p "$rootfs/bin" "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for tool in sh ls cat echo mkdir cp sleep sha256sum head dd true; do ln -s busybox "$rootfs/bin/$tool"; done
  tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' - "$BASE_IMAGE" >/dev/null
  docker push -q "$BASE_IMAGE" >/dev/null
  docker image rm -f "$BASE_IMAGE" >/dev/null
  log "pushed base image $BASE_IMAGE"
}

# The default socket, for clients that get no DOCKER_HOST; never replaces another engine's
# (a dangling link, left by an engine of ours that was stopped elsewhere, is replaced).
link_default_socket() {
  local default=/var/run/docker.sock
  if [ -L "$default" ] && [ ! -e "$default" ]; then
    rm -f "$default"
  fi
  if [ -e "$default" ] || [ -L "$default" ]; then
    [ "$(readlink "$default")" = "$RUN/docker.sock" ] ||
      log "not linking $default: something else is there ($(readlink "$default" || echo 'not a link')); what reaches it (act's host mode) stops at scripts/engine.sh check"
    return 0
  fi
  mkdir -p "$(dirname "$default")"
  ln -s "$RUN/docker.sock" "$default"
}

cmd_start() {
  # One start at a time (test binaries run in parallel); daemons get `9>&-` so they never
  # inherit the lock.
  exec 9>"$ROOT.lock"
  flock -w 300 9 || die "another engine.sh start held $ROOT.lock for 300s"
  cmd_install
  start_daemons
  link_default_socket
  cmd_registry_start main "$REGISTRY_PORT"
  push_base_image
  log "ready: dockerd $(docker version -f '{{.Server.Version}}'), buildx $(docker buildx version | cut -d' ' -f2), registry $REGISTRY"
}

# A second dockerd with the classic image store (vfs): its `docker` driver cannot export
# registry cache, which is what regcache's setup diagnosis is tested against. It also listens on
# plain TCP on loopback (`--tls=false` said outright, as dockerd asks of an unencrypted TCP
# socket), the daemon regcache's preflight is tested reaching with TLS on.
cmd_legacy_start() {
  alive "$RUN/legacy.pid" && return 0
  start_daemons
  mkdir -p "$ROOT/legacy"
  echo '{"storage-driver":"vfs","iptables":false,"ip6tables":false,"bridge":"none","userland-proxy":false}' >"$ROOT/legacy/daemon.json"
  setsid "$PREFIX/usr/sbin/dockerd" --config-file "$ROOT/legacy/daemon.json" --containerd "$RUN/containerd.sock" \
    --containerd-namespace legacy --containerd-plugins-namespace legacy-plugins \
    --data-root "$ROOT/legacy/data" --exec-root "$RUN/legacy-exec" --pidfile "$RUN/legacy.pid" \
    -H "unix://$RUN/legacy.sock" -H "tcp://$LEGACY_TCP" --tls=false >"$LOGS/legacy.log" 2>&1 </dev/null 9>&- &
  wait_for 60 "legacy dockerd" env DOCKER_HOST="unix://$RUN/legacy.sock" DOCKER_CONFIG="$ROOT/docker-config" docker version
}

# A third dockerd as GitLab's docker:dind serves: the containerd image store, listening only on
# TCP on loopback with TLS and client verification (`--tlsverify`), its CA, server and client
# certificates made here with openssl as dind makes them at start (server: ca.pem, cert.pem,
# key.pem; the client's in one directory, what DOCKER_CERT_PATH names). A second CA signs a
# client certificate the daemon must refuse. `env` prints where they are.
cmd_tls_start() {
  alive "$RUN/tls.pid" && return 0
  start_daemons
  local tls=$ROOT/tls
  rm -rf "$tls/certs" && mkdir -p "$tls/certs/server" "$tls/certs/client" "$tls/certs/other-client" "$tls/data"
  (
    cd "$tls/certs"
    for ca in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=regcache test $ca" -keyout "$ca-key.pem" -out "$ca.pem" 2>/dev/null
    done
    sign() { # name ca extensions
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1/key.pem" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial -days 2 -extfile "$1.ext" -out "$1/cert.pem" 2>/dev/null
      cp "$2.pem" "$1/ca.pem"
    }
    sign server ca "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:docker
extendedKeyUsage=serverAuth"
    sign client ca "extendedKeyUsage=clientAuth"
    sign other-client other-ca "extendedKeyUsage=clientAuth"
    # The other client trusts the daemon's CA, so only its own certificate is wrong.
    cp ca.pem other-client/ca.pem
  )
  echo "{\"features\":{\"containerd-snapshotter\":true},\"storage-driver\":\"native\",\"iptables\":false,\"ip6tables\":false,\"bridge\":\"none\"}" >"$tls/daemon.json"
  setsid "$PREFIX/usr/sbin/dockerd" --config-file "$tls/daemon.json" --containerd "$RUN/containerd.sock" \
    --containerd-namespace tls --containerd-plugins-namespace tls-plugins \
    --data-root "$tls/data" --exec-root "$RUN/tls-exec" --pidfile "$RUN/tls.pid" \
    --tlsverify --tlscacert "$tls/certs/server/ca.pem" --tlscert "$tls/certs/server/cert.pem" --tlskey "$tls/certs/server/key.pem" \
    -H "tcp://$TLS_TCP" >"$LOGS/tls.log" 2>&1 </dev/null 9>&- &
  wait_for 60 "TLS dockerd" env DOCKER_HOST="tcp://$TLS_TCP" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$tls/certs/client" DOCKER_CONFIG="$ROOT/docker-config" docker version
}

cmd_stop() {
  for pid in "$RUN"/registry-*.pid; do [ -e "$pid" ] && cmd_registry_stop "$(basename "$pid" .pid | sed 's/^registry-//')"; done
  for d in tls legacy dockerd containerd; do
    if alive "$RUN/$d.pid"; then kill "$(cat "$RUN/$d.pid")"; for _ in $(seq 100); do alive "$RUN/$d.pid" || break; sleep 0.1; done; fi
    rm -f "$RUN/$d.pid"
  done
  if [ "$(readlink /var/run/docker.sock)" = "$RUN/docker.sock" ]; then rm -f /var/run/docker.sock; fi
}

# Whether HOST (a DOCKER_HOST value; the default socket when none) reaches the dockerd this
# script started, told by its data root (`docker info`'s DockerRootDir, which no other engine
# on the machine shares). Silent and 0 when it does; one line naming HOST, what answered there
# and the fix, and 1, when it does not: a test never runs against an engine it did not start.
cmd_check() {
  local host=${1:-unix:///var/run/docker.sock} ours=$ROOT/docker found
  # `docker info --format` exits 0 with empty server fields when nothing answers.
  found=$(DOCKER_HOST=$host DOCKER_CONFIG="$ROOT/docker-config" timeout 20 docker info --format '{{.DockerRootDir}} (ID {{.ID}}, version {{.ServerVersion}})' 2>/dev/null) || true
  if [ -z "${found%% *}" ]; then
    echo "engine: $host: no engine answers there; run scripts/engine.sh start (the default socket is linked to ours only when nothing else is there)" >&2
    return 1
  fi
  if [ "${found%% *}" != "$ours" ]; then
    local fix="stop that engine or remove the link, then run scripts/engine.sh start"
    [ "$host" = unix:///var/run/docker.sock ] && [ -L /var/run/docker.sock ] && fix="$fix (it links to $(readlink /var/run/docker.sock))"
    echo "engine: $host reaches another engine, data root $found, not the one scripts/engine.sh started (data root $ours): $fix" >&2
    return 1
  fi
}

cmd_status() {
  for d in containerd dockerd registry-main; do
    if alive "$RUN/$d.pid"; then echo "$d: running"; else echo "$d: stopped"; fi
  done
}

mkdir -p "$ROOT"
case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  check) shift; cmd_check "${1:-}" ;;
  env) exports ;;
  legacy-start) cmd_legacy_start ;;
  tls-start) cmd_tls_start ;;
  registry-start) shift; cmd_registry_start "$@" ;;
  registry-stop) shift; cmd_registry_stop "$1" ;;
  *) echo "usage: $0 install|start|stop|status|env|check [DOCKER_HOST]|legacy-start|tls-start|registry-start NAME PORT [HTPASSWD]|registry-stop NAME" >&2; exit 2 ;;
esac
