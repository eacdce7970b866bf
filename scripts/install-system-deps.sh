#!/usr/bin/env bash
# Installs the Debian packages the tests need (Go toolchain and Go yamux /
# gorilla websocket sources for the interop peers, curl, chromium for the
# browser tests, PostgreSQL 15 for the store and cluster tests, which start
# throwaway servers of their own, HAProxy for the cluster tests, wrk for the
# benchmarks), then builds
# the Go peers into .interop-bin/. Idempotent;
# the first time it needs root (it uses sudo when run as another user).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pkgs=(golang-go golang-github-hashicorp-yamux-dev golang-github-gorilla-websocket-dev curl openssl tmux chromium postgresql-15 haproxy wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      echo "install-system-deps: missing Debian packages: ${missing[*]} (run as root: apt-get install -y ${pkgs[*]})" >&2
      exit 1
    fi
  fi
  echo "install-system-deps: installing ${missing[*]}" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
bash scripts/build-interop.sh
