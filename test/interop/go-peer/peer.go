package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// peer is one yamux session over the dialled TCP connection.
type peer struct {
	opts     options
	sess     *yamux.Session
	conn     *silentConn
	handler  func(*yamux.Stream)
	accepted int64
	handlers sync.WaitGroup
}

func runPeer(o options) int {
	raw, ok := dial(o)
	if !ok {
		return 1
	}
	conn := newSilentConn(raw)
	var sess *yamux.Session
	var err error
	if o.role == "client" {
		sess, err = yamux.Client(conn, yamuxConfig(o))
	} else {
		sess, err = yamux.Server(conn, yamuxConfig(o))
	}
	if err != nil {
		out.emit("error", "op", "session", "error", err)
		return 1
	}
	p := &peer{opts: o, sess: sess, conn: conn}
	p.handler = p.handlerFor(o.mode)
	out.emit("ready", "role", o.role, "mode", o.mode, "local", raw.LocalAddr().String(), "remote", raw.RemoteAddr().String())
	go p.readCommands(os.Stdin)

	switch o.mode {
	case "silent":
		p.goSilent()
	case "ping":
		go p.runPings(o.count)
	case "open-echo":
		go p.runOpenEcho()
	case "goaway":
		if o.goAwayAfter == 0 {
			go p.goAway()
		}
	}
	if p.handler != nil {
		go p.acceptLoop()
		for i := 0; i < o.open; i++ {
			go p.openAndHandle()
		}
	}

	<-sess.CloseChan()
	reason := closeReason(sess)
	done := make(chan struct{})
	go func() {
		p.handlers.Wait()
		close(done)
	}()
	// Stream handlers unblock at once when the session ends; the bound only
	// guards against a handler stuck in a blocked write of ours.
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	out.emit("session_closed", "err", reason)
	return 0
}

// closeReason recovers the session's shutdown error, which df201c7 only
// exposes through AcceptStream once the session is closed.
func closeReason(sess *yamux.Session) string {
	for i := 0; i < 1000; i++ {
		if _, err := sess.AcceptStream(); err != nil {
			return errString(err)
		}
	}
	return "unknown"
}

// handlerFor returns the per-stream handler of a mode, or nil for modes
// that never accept streams.
func (p *peer) handlerFor(mode string) func(*yamux.Stream) {
	switch mode {
	case "echo", "goaway", "ping", "open-echo":
		return p.echo
	case "sink":
		return p.sink
	case "source":
		return p.source
	case "half-close":
		return p.halfClose
	case "rst":
		return p.rst
	case "control":
		return p.control
	}
	return nil // silent, idle
}

func (p *peer) acceptLoop() {
	for {
		st, err := p.sess.AcceptStream()
		if err != nil {
			return
		}
		n := atomic.AddInt64(&p.accepted, 1)
		out.emit("stream_accepted", "id", st.StreamID())
		p.spawn(st)
		if p.opts.mode == "goaway" && p.opts.goAwayAfter > 0 && n == int64(p.opts.goAwayAfter) {
			p.goAway()
		}
	}
}

func (p *peer) spawn(st *yamux.Stream) {
	p.handlers.Add(1)
	go func() {
		defer p.handlers.Done()
		p.handler(st)
	}()
}

// openStream opens a stream and reports it.
func (p *peer) openStream() (*yamux.Stream, bool) {
	st, err := p.sess.OpenStream()
	if err != nil {
		out.emit("open_failed", "error", err)
		return nil, false
	}
	out.emit("stream_opened", "id", st.StreamID())
	return st, true
}

func (p *peer) openAndHandle() {
	if st, ok := p.openStream(); ok {
		p.spawn(st)
	}
}

func (p *peer) goAway() {
	err := p.sess.GoAway()
	out.emit("goaway_sent", "error", err)
}

func (p *peer) goSilent() {
	if p.conn.goSilent() {
		out.emit("silent")
	}
}

func (p *peer) runPings(n int) {
	for i := 0; i < n; i++ {
		rtt, err := p.sess.Ping()
		if err != nil {
			out.emit("ping_failed", "seq", i, "error", err)
			return
		}
		out.emit("ping", "seq", i, "rtt_ms", float64(rtt.Microseconds())/1000)
	}
	out.emit("pings_done", "count", n)
}

// readCommands runs one command per stdin line: goaway, ping, silent,
// open, close. End of input is ignored.
func (p *peer) readCommands(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		cmd := strings.TrimSpace(sc.Text())
		switch cmd {
		case "":
		case "goaway":
			go p.goAway()
		case "ping":
			go p.runPings(1)
		case "silent":
			p.goSilent()
		case "open":
			if p.handler == nil {
				p.handler = p.echo
			}
			go p.openAndHandle()
		case "close":
			go func() {
				err := p.sess.Close()
				out.emit("close_called", "error", err)
			}()
		default:
			out.emit("error", "op", "command", "error", "unknown command "+cmd)
		}
	}
}

// echo writes every byte read back, and closes (FIN) its write side at EOF.
func (p *peer) echo(st *yamux.Stream) {
	id := st.StreamID()
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var total int64
	for {
		n, rerr := st.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			total += int64(n)
			if _, werr := st.Write(buf[:n]); werr != nil {
				out.emit("stream_error", "id", id, "op", "write", "error", werr, "bytes", total)
				st.Close()
				return
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.emit("stream_error", "id", id, "op", "read", "error", rerr, "bytes", total)
			return
		}
	}
	st.Close()
	out.emit("stream_done", "id", id, "bytes", total, "sha256", hexSum(h))
}

// readAll reads st to EOF, returning the count and sha256 of the bytes.
func readAll(st *yamux.Stream) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, st)
	return n, hexSum(h), err
}

// sink reads everything, reports it, optionally replies, then closes.
func (p *peer) sink(st *yamux.Stream) {
	id := st.StreamID()
	n, sum, err := readAll(st)
	if err != nil {
		out.emit("stream_error", "id", id, "op", "read", "error", err, "bytes", n)
		return
	}
	out.emit("stream_done", "id", id, "bytes", n, "sha256", sum)
	if p.opts.replyBytes > 0 {
		w, wsum, werr := writePattern(st, p.opts.replyBytes)
		if werr != nil {
			out.emit("stream_error", "id", id, "op", "write", "error", werr, "bytes", w)
			return
		}
		out.emit("stream_sent", "id", id, "bytes", w, "sha256", wsum)
	}
	st.Close()
}

// sendPattern writes -bytes of the pattern, then closes (FIN) its write side
// and reports stream_sent; false (after a stream_error) if a write failed.
func (p *peer) sendPattern(st *yamux.Stream) bool {
	id := st.StreamID()
	n, sum, err := writePattern(st, p.opts.bytes)
	if err != nil {
		out.emit("stream_error", "id", id, "op", "write", "error", err, "bytes", n)
		return false
	}
	st.Close()
	out.emit("stream_sent", "id", id, "bytes", n, "sha256", sum)
	return true
}

// source writes -bytes of the pattern, then closes (FIN) its write side.
func (p *peer) source(st *yamux.Stream) {
	p.sendPattern(st)
}

// halfClose writes -bytes of the pattern, closes its write side (FIN), then
// reads the other side's reply until that side's FIN.
func (p *peer) halfClose(st *yamux.Stream) {
	if !p.sendPattern(st) {
		return
	}
	id := st.StreamID()
	rn, rsum, rerr := readAfterClose(st)
	if rerr != nil {
		out.emit("stream_error", "id", id, "op", "read", "error", rerr, "bytes", rn)
		return
	}
	out.emit("stream_done", "id", id, "bytes", rn, "sha256", rsum)
}

// rst reads and writes until both fail, as they do once the other side
// resets the stream, and reports both errors.
func (p *peer) rst(st *yamux.Stream) {
	id := st.StreamID()
	var readErr error
	var readBytes int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		readBytes, _, readErr = readAll(st)
		if readErr == nil {
			readErr = io.EOF
		}
		out.emit("stream_error", "id", id, "op", "read", "error", readErr, "bytes", readBytes)
	}()
	var written int64
	var writeErr error
	for writeErr == nil {
		var n int
		n, writeErr = st.Write(patternChunk(written, chunkSize))
		written += int64(n)
	}
	out.emit("stream_error", "id", id, "op", "write", "error", writeErr, "bytes", written)
	<-readDone
	out.emit("stream_reset", "id", id, "read_error", readErr, "write_error", writeErr)
}

// control runs one command per line received on the stream and writes one
// reply line per command: "open" (try to open a stream; "ok ID" or
// "error MSG"), "ping" ("ok RTT_MS" or "error MSG"), "goaway" ("ok").
func (p *peer) control(st *yamux.Stream) {
	id := st.StreamID()
	r := bufio.NewReader(st)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		var reply bytes.Buffer
		switch cmd := strings.TrimSpace(line); cmd {
		case "open":
			s, oerr := p.sess.OpenStream()
			out.emit("open_result", "ok", oerr == nil, "error", oerr)
			if oerr != nil {
				reply.WriteString("error " + oerr.Error())
			} else {
				reply.WriteString("ok " + itoa(int64(s.StreamID())))
				p.handlers.Add(1)
				go func() {
					defer p.handlers.Done()
					p.echo(s)
				}()
			}
		case "ping":
			rtt, perr := p.sess.Ping()
			if perr != nil {
				reply.WriteString("error " + perr.Error())
			} else {
				reply.WriteString("ok " + itoa(rtt.Microseconds()))
			}
		case "goaway":
			p.goAway()
			reply.WriteString("ok")
		default:
			reply.WriteString("error unknown command " + cmd)
		}
		reply.WriteByte('\n')
		if _, werr := st.Write(reply.Bytes()); werr != nil {
			out.emit("stream_error", "id", id, "op", "write", "error", werr)
			return
		}
	}
	st.Close()
	out.emit("stream_done", "id", id)
}

// runOpenEcho opens -streams streams, writes -bytes of the pattern on each
// while reading the echo back, checks it byte for byte, then closes its
// write side and waits until the other side closed too.
func (p *peer) runOpenEcho() {
	var wg sync.WaitGroup
	var okCount, failed int64
	for i := 0; i < p.opts.streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.openEchoOne() {
				atomic.AddInt64(&okCount, 1)
			} else {
				atomic.AddInt64(&failed, 1)
			}
		}()
	}
	wg.Wait()
	out.emit("open_echo_done", "streams", p.opts.streams, "ok", okCount, "failed", failed)
}

func (p *peer) openEchoOne() bool {
	st, ok := p.openStream()
	if !ok {
		return false
	}
	id := st.StreamID()
	want := p.opts.bytes
	writeErr := make(chan error, 1)
	go func() {
		_, _, err := writePattern(st, want)
		writeErr <- err
	}()
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var got int64
	match := true
	var rerr error
	for got < want {
		size := int64(len(buf))
		if want-got < size {
			size = want - got
		}
		n, err := st.Read(buf[:size])
		if n > 0 {
			h.Write(buf[:n])
			if !bytes.Equal(buf[:n], patternChunk(got, n)) {
				match = false
			}
			got += int64(n)
		}
		if err != nil {
			rerr = err
			break
		}
	}
	werr := <-writeErr
	okResult := match && got == want && rerr == nil && werr == nil
	errText := errString(rerr)
	if werr != nil {
		errText = "write: " + werr.Error()
	}
	out.emit("open_echo_result", "id", id, "bytes", got, "sha256", hexSum(h), "ok", okResult, "error", errText)
	st.Close()
	state := waitStreamClosed(st)
	out.emit("stream_closed", "id", id, "state", state)
	return okResult
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
