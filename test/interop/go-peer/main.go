// Command go-yamux-peer runs hashicorp/yamux (Debian's df201c7 snapshot)
// over a TCP connection it dials to a test's listener, in one of several
// modes, and reports what happens as JSON lines on stdout. See README.md.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

// options are the command-line flags; README.md documents each one.
type options struct {
	role           string
	connect        string
	mode           string
	open           int
	streams        int
	bytes          int64
	replyBytes     int64
	extra          int64
	count          int
	keepAliveMs    int
	writeTimeoutMs int
	window         uint
	acceptBacklog  int
	goAwayAfter    int
	rawSyn         string
}

var out = &emitter{w: os.Stdout}

var modes = []string{
	"echo", "sink", "source", "half-close", "open-echo", "rst", "goaway", "ping",
	"silent", "idle", "control", "overrun", "capture",
}

func main() {
	opts := parseFlags()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		out.emit("stopping", "signal", s.String())
		os.Exit(0)
	}()
	switch opts.mode {
	case "capture":
		os.Exit(runCapture(opts))
	case "overrun":
		os.Exit(runOverrun(opts))
	default:
		os.Exit(runPeer(opts))
	}
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.role, "role", "", "yamux role of this peer: client (odd stream ids) or server (even ids)")
	flag.StringVar(&o.connect, "connect", "", "host:port of the test's TCP listener to dial")
	flag.StringVar(&o.mode, "mode", "echo", "one of: "+strings.Join(modes, ", "))
	flag.IntVar(&o.open, "open", 0, "open this many streams (in addition to accepting) and run the mode's stream handler on them")
	flag.IntVar(&o.streams, "streams", 1, "open-echo: number of streams the peer opens")
	flag.Int64Var(&o.bytes, "bytes", 1024, "bytes of the pattern written per stream (source, half-close, open-echo); overrun: payload of the first data frame")
	flag.Int64Var(&o.replyBytes, "reply-bytes", 0, "sink: after EOF, write this many pattern bytes back before closing")
	flag.Int64Var(&o.extra, "extra", 1, "overrun: payload of a second data frame sent right after the first (0: none)")
	flag.IntVar(&o.count, "count", 3, "ping: number of pings")
	flag.IntVar(&o.keepAliveMs, "keepalive-ms", 0, "yamux keepalive interval in ms (0: keepalive disabled)")
	flag.IntVar(&o.writeTimeoutMs, "write-timeout-ms", 10000, "yamux ConnectionWriteTimeout in ms (also the ping timeout)")
	flag.UintVar(&o.window, "window", 256*1024, "yamux MaxStreamWindowSize in bytes (>= 262144)")
	flag.IntVar(&o.acceptBacklog, "accept-backlog", 256, "yamux AcceptBacklog")
	flag.IntVar(&o.goAwayAfter, "goaway-after", 0, "goaway: send GoAway after this many accepted streams (0: right after ready)")
	flag.StringVar(&o.rawSyn, "raw-syn", "window-update", "overrun: open the stream with a window-update SYN (as hashicorp does) or with SYN on the data frame: window-update|data")
	flag.Parse()

	bad := func(format string, args ...interface{}) {
		msg := fmt.Sprintf(format, args...)
		out.emit("error", "op", "flags", "error", msg)
		fmt.Fprintln(os.Stderr, "go-yamux-peer: "+msg)
		os.Exit(2)
	}
	known := false
	for _, m := range modes {
		known = known || m == o.mode
	}
	if !known {
		bad("unknown -mode %q (want one of: %s)", o.mode, strings.Join(modes, ", "))
	}
	if o.mode != "capture" {
		if o.role != "client" && o.role != "server" {
			bad("-role must be client or server, got %q", o.role)
		}
		if o.connect == "" {
			bad("-connect host:port is required")
		}
	}
	if o.rawSyn != "window-update" && o.rawSyn != "data" {
		bad("-raw-syn must be window-update or data, got %q", o.rawSyn)
	}
	return o
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// yamuxConfig builds the session config from the flags.
func yamuxConfig(o options) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.AcceptBacklog = o.acceptBacklog
	cfg.EnableKeepAlive = o.keepAliveMs > 0
	if o.keepAliveMs > 0 {
		cfg.KeepAliveInterval = ms(o.keepAliveMs)
	}
	cfg.ConnectionWriteTimeout = ms(o.writeTimeoutMs)
	cfg.MaxStreamWindowSize = uint32(o.window)
	cfg.LogOutput = os.Stderr
	return cfg
}

// dial connects to the test's listener, reporting a failure as an event.
func dial(o options) (net.Conn, bool) {
	conn, err := net.Dial("tcp", o.connect)
	if err != nil {
		out.emit("error", "op", "dial", "error", err)
		return nil, false
	}
	return conn, true
}
