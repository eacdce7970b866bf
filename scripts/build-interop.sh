#!/usr/bin/env bash
# Builds the Go interop peers into .interop-bin/ (git-ignored):
#  - ref-agent, ref-relay, ref-origin, ref-tap from ../shared/interop/go
#  - go-yamux-peer from test/interop/go-peer (hashicorp/yamux from Debian)
# Needs Debian's golang-go, golang-github-hashicorp-yamux-dev and
# golang-github-gorilla-websocket-dev (scripts/install-system-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$PWD/.interop-bin"
mkdir -p "$out"
export GOCACHE="${GOCACHE:-$PWD/.interop-bin/.gocache}"
if [[ -f ../shared/interop/go/build.sh ]]; then
  REF_BIN_DIR="$out" bash ../shared/interop/go/build.sh
else
  echo "build-interop: ../shared/interop/go not found; Go reference peers not built" >&2
  exit 1
fi
if [[ -d test/interop/go-peer ]]; then
  # go.mod replaces hashicorp/yamux with Debian's sources (a local folder), so
  # no go.sum is needed and -mod=readonly never writes go.mod/go.sum.
  yamux_src=/usr/share/gocode/src/github.com/hashicorp/yamux
  [[ -f "$yamux_src/go.mod" ]] || { echo "build-interop: $yamux_src not found (apt-get install golang-github-hashicorp-yamux-dev)" >&2; exit 1; }
  (
    cd test/interop/go-peer
    GOPROXY=off GOSUMDB=off GOFLAGS=-mod=readonly GOWORK=off GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=0 \
      go build -trimpath -o "$out/go-yamux-peer" .
  )
  echo "build-interop: built go-yamux-peer in $out" >&2
fi
