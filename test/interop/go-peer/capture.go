package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// capturedFrame is one frame seen on a tapped connection.
type capturedFrame struct {
	header  []byte
	payload []byte
}

// frameTap splits the bytes one side writes into frames.
type frameTap struct {
	mu     sync.Mutex
	buf    []byte
	frames []capturedFrame
}

func (t *frameTap) feed(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for len(t.buf) >= headerSize {
		total := headerSize
		if t.buf[1] == typeData {
			total += int(binary.BigEndian.Uint32(t.buf[8:12]))
		}
		if len(t.buf) < total {
			return
		}
		f := capturedFrame{
			header:  append([]byte(nil), t.buf[:headerSize]...),
			payload: append([]byte(nil), t.buf[headerSize:total]...),
		}
		t.frames = append(t.frames, f)
		t.buf = t.buf[total:]
	}
}

// frame waits (up to 5 s) until the n-th frame (1-based) was written.
func (t *frameTap) frame(n int) capturedFrame {
	f, ok := t.waitFrame(n, 5*time.Second)
	if !ok {
		panic(fmt.Sprintf("capture: frame %d never written", n))
	}
	return f
}

func (t *frameTap) waitFrame(n int, limit time.Duration) (capturedFrame, bool) {
	deadline := time.Now().Add(limit)
	for {
		t.mu.Lock()
		if len(t.frames) >= n {
			f := t.frames[n-1]
			t.mu.Unlock()
			return f, true
		}
		t.mu.Unlock()
		if time.Now().After(deadline) {
			return capturedFrame{}, false
		}
		time.Sleep(time.Millisecond)
	}
}

type tapConn struct {
	net.Conn
	tap *frameTap
}

// Write records p before writing it, so a frame counts as written even when
// the session closes the pipe while the write is in progress (see overrunOnce).
func (c *tapConn) Write(p []byte) (int, error) {
	c.tap.feed(p)
	return c.Conn.Write(p)
}

func captureConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	return cfg
}

// tappedPair connects a client and a server session in memory and taps
// what each side writes.
func tappedPair(ccfg, scfg *yamux.Config) (client, server *yamux.Session, c2s, s2c *frameTap) {
	a, b := net.Pipe()
	c2s, s2c = &frameTap{}, &frameTap{}
	client, _ = yamux.Client(&tapConn{a, c2s}, ccfg)
	server, _ = yamux.Server(&tapConn{b, s2c}, scfg)
	return client, server, c2s, s2c
}

func emitGolden(name, dir string, f capturedFrame, payload bool) {
	p := ""
	if payload {
		p = hex.EncodeToString(f.payload)
	}
	out.emit("golden", "name", name, "dir", dir, "header", hex.EncodeToString(f.header), "payload", p)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// runCapture drives real hashicorp/yamux sessions through a fixed script in
// memory (no network) and prints the frames they write, as golden {name,
// dir, header, payload} lines (dir c2s: written by the client session).
func runCapture(_ options) (code int) {
	defer func() {
		if r := recover(); r != nil {
			out.emit("error", "op", "capture", "error", fmt.Sprint(r))
			code = 1
		}
	}()

	// Session 1: open, accept, data, FIN, ping, window update, GoAway.
	client, server, c2s, s2c := tappedPair(captureConfig(), captureConfig())
	st, err := client.OpenStream()
	must(err)
	emitGolden("window_update_syn", "c2s", c2s.frame(1), false)
	sst, err := server.AcceptStream()
	must(err)
	emitGolden("window_update_ack", "s2c", s2c.frame(1), false)
	_, err = st.Write([]byte("hello"))
	must(err)
	emitGolden("data", "c2s", c2s.frame(2), true)
	must(st.Close())
	emitGolden("window_update_fin", "c2s", c2s.frame(3), false)
	got, err := io.ReadAll(sst)
	must(err)
	if string(got) != "hello" {
		panic("capture: server read " + string(got))
	}
	must(sst.Close())
	s2c.frame(2) // the server's FIN
	_, err = client.Ping()
	must(err)
	_, err = client.Ping()
	must(err)
	emitGolden("ping_syn", "c2s", c2s.frame(5), false)
	emitGolden("ping_ack", "s2c", s2c.frame(4), false)

	st2, err := client.OpenStream()
	must(err)
	sst2, err := server.AcceptStream()
	must(err)
	c2s.frame(6) // SYN of stream 3
	s2c.frame(5) // ACK of stream 3
	full := make([]byte, 256*1024)
	go func() { _, _ = st2.Write(full) }()
	emitGolden("data_full_window", "c2s", c2s.frame(7), false)
	_, err = io.ReadFull(sst2, make([]byte, len(full)))
	must(err)
	emitGolden("window_update", "s2c", s2c.frame(6), false)
	must(server.GoAway())
	emitGolden("go_away_normal", "s2c", s2c.frame(7), false)
	client.Close()
	server.Close()

	// Session 2: a 1 MiB MaxStreamWindowSize is announced in the SYN.
	big := captureConfig()
	big.MaxStreamWindowSize = 1024 * 1024
	client, server, c2s, _ = tappedPair(big, captureConfig())
	_, err = client.OpenStream()
	must(err)
	emitGolden("window_update_syn_1mib", "c2s", c2s.frame(1), false)
	client.Close()
	server.Close()

	// Session 3: accept backlog of 1, nothing accepted: the second SYN is reset.
	small := captureConfig()
	small.AcceptBacklog = 1
	client, server, _, s2c = tappedPair(captureConfig(), small)
	_, err = client.OpenStream()
	must(err)
	_, err = client.OpenStream()
	must(err)
	emitGolden("window_update_rst", "s2c", s2c.frame(1), false)
	client.Close()
	server.Close()

	// Session 4: data past the window gets a protocol-error GoAway. df201c7
	// queues that GoAway and closes the session at once, so its send loop
	// writes it only when it picks the queued frame before the shutdown
	// (a select between two ready channels): try a few sessions.
	var goAway *capturedFrame
	for attempt := 0; attempt < 50 && goAway == nil; attempt++ {
		goAway = overrunOnce()
	}
	if goAway == nil {
		panic("capture: no protocol-error GoAway in 50 sessions")
	}
	emitGolden("go_away_protocol_error", "s2c", *goAway, false)

	out.emit("capture_done")
	fmt.Fprintln(os.Stderr, "go-yamux-peer: capture done")
	return 0
}

// overrunOnce sends a stream 256 KiB + 1 bytes in one data frame and
// returns the first frame the server writes back, if any.
func overrunOnce() *capturedFrame {
	a, b := net.Pipe()
	tap := &frameTap{}
	server, _ := yamux.Server(&tapConn{b, tap}, captureConfig())
	defer server.Close()
	defer a.Close()
	go func() { _, _ = io.Copy(io.Discard, a) }()
	go func() {
		_, _ = a.Write(encodeHeader(typeWindowUpdate, flagSYN, 1, 0))
		_, _ = a.Write(encodeHeader(typeData, 0, 1, 256*1024+1))
		_, _, _ = writePattern(a, 256*1024+1)
	}()
	select {
	case <-server.CloseChan():
	case <-time.After(5 * time.Second):
		return nil
	}
	f, ok := tap.waitFrame(1, 100*time.Millisecond)
	if !ok {
		return nil
	}
	return &f
}
