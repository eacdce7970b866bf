#!/usr/bin/env bash
# Builds the Go interop peers into .interop-bin/ (git-ignored):
#  - go-yamux-peer from test/interop/go-peer (in this repository; hashicorp/yamux
#    from Debian), always;
#  - ref-agent, ref-relay, ref-origin, ref-tap from ../shared/interop/go, which
#    is NOT in this repository: CI has it beside the clone. Without it they are
#    not built (one line says so) and the tests that need them skip, unless
#    VISIONA_REQUIRE_INTEROP=1, which makes their absence an error (CI).
# Needs Debian's golang-go, golang-github-hashicorp-yamux-dev and
# golang-github-gorilla-websocket-dev (scripts/install-system-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$PWD/.interop-bin"
mkdir -p "$out"
export GOCACHE="${GOCACHE:-$PWD/.interop-bin/.gocache}"
if ! command -v go >/dev/null 2>&1; then
  echo "build-interop: no go command (apt-get install golang-go golang-github-hashicorp-yamux-dev golang-github-gorilla-websocket-dev, or bash scripts/install-system-deps.sh)" >&2
  exit 1
fi
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
if [[ -f ../shared/interop/go/build.sh ]]; then
  REF_BIN_DIR="$out" bash ../shared/interop/go/build.sh
elif [[ "${VISIONA_REQUIRE_INTEROP:-}" == 1 ]]; then
  echo "build-interop: ../shared/interop/go not found beside this clone, and VISIONA_REQUIRE_INTEROP=1: ref-agent, ref-relay, ref-origin, ref-tap cannot be built" >&2
  exit 1
else
  echo "build-interop: ../shared/interop/go not found beside this clone: ref-agent, ref-relay, ref-origin, ref-tap not built; the tests that need them skip" >&2
fi
