module go-yamux-peer

go 1.19

// hashicorp/yamux comes from Debian's golang-github-hashicorp-yamux-dev
// (snapshot df201c7), so the build needs no module proxy and no go.sum.
require github.com/hashicorp/yamux v0.0.0

replace github.com/hashicorp/yamux => /usr/share/gocode/src/github.com/hashicorp/yamux
