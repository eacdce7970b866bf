package main

import (
	"crypto/sha256"
	"io"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/yamux"
)

// Stream states of yamux df201c7 (stream.go, unexported).
const (
	stateLocalClose = 4
	stateClosed     = 6
	stateReset      = 7
)

// streamState reads the unexported state of a df201c7 stream under its
// lock. It is needed because that version's Read returns io.EOF as soon as
// its buffer is empty once the local side has closed, even while the other
// side is still sending (fixed in yamux v0.1.x): only the state tells a
// spurious EOF (localClose) from the real one (closed).
func streamState(st *yamux.Stream) int {
	v := reflect.ValueOf(st).Elem()
	mu := (*sync.Mutex)(unsafe.Pointer(v.FieldByName("stateLock").UnsafeAddr()))
	mu.Lock()
	defer mu.Unlock()
	return int(v.FieldByName("state").Int())
}

// stateName names the end states reported in events.
func stateName(s int) string {
	switch s {
	case stateClosed:
		return "closed"
	case stateReset:
		return "reset"
	case stateLocalClose:
		return "local_close"
	}
	return "open"
}

// waitStreamClosed waits until the other side has closed or reset a stream
// we closed, polling the state (df201c7 offers no notification for it).
func waitStreamClosed(st *yamux.Stream) string {
	for {
		s := streamState(st)
		if s == stateClosed || s == stateReset {
			return stateName(s)
		}
		if st.Session().IsClosed() {
			return "session_closed"
		}
		time.Sleep(time.Millisecond)
	}
}

// readAfterClose reads a stream whose write side we already closed until
// the other side's FIN, working around the spurious EOF described at
// streamState: an EOF counts only if the stream was already fully closed
// (or the session gone) before that Read began; otherwise it polls.
func readAfterClose(st *yamux.Stream) (int64, string, error) {
	h := sha256.New()
	buf := make([]byte, chunkSize)
	var total int64
	for {
		final := streamState(st) != stateLocalClose || st.Session().IsClosed()
		n, err := st.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			total += int64(n)
		}
		if err == io.EOF {
			if final {
				return total, hexSum(h), nil
			}
			if n == 0 {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		if err != nil {
			return total, hexSum(h), err
		}
	}
}
