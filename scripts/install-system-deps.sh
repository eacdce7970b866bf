#!/usr/bin/env bash
# Installs the Debian packages the tests need (Go toolchain and Go yamux /
# gorilla websocket sources for the interop peers, curl, chromium for the
# status page test), then builds the Go peers into .interop-bin/. Idempotent; needs root the first time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pkgs=(golang-go golang-github-hashicorp-yamux-dev golang-github-gorilla-websocket-dev curl openssl tmux chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-system-deps: missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${pkgs[*]})" >&2
    exit 1
  fi
  echo "install-system-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
bash scripts/build-interop.sh
