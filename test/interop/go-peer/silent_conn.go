package main

import (
	"net"
	"sync"
)

// silentConn is a net.Conn that can be told to go silent: from then on it
// neither delivers received bytes to yamux nor writes anything, while the
// TCP connection stays open (a blackholed peer: no FIN, no RST). Bytes a
// Read in progress returns after the switch are dropped too.
type silentConn struct {
	net.Conn
	silentOnce sync.Once
	silentCh   chan struct{}
	closeOnce  sync.Once
	closedCh   chan struct{}
}

func newSilentConn(c net.Conn) *silentConn {
	return &silentConn{Conn: c, silentCh: make(chan struct{}), closedCh: make(chan struct{})}
}

// goSilent switches the connection to silent; it reports whether this call
// did the switch.
func (c *silentConn) goSilent() bool {
	first := false
	c.silentOnce.Do(func() {
		close(c.silentCh)
		first = true
	})
	return first
}

func (c *silentConn) isSilent() bool {
	select {
	case <-c.silentCh:
		return true
	default:
		return false
	}
}

func (c *silentConn) Read(b []byte) (int, error) {
	if c.isSilent() {
		<-c.closedCh
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(b)
	if c.isSilent() {
		<-c.closedCh
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *silentConn) Write(b []byte) (int, error) {
	if c.isSilent() {
		<-c.closedCh
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func (c *silentConn) Close() error {
	c.closeOnce.Do(func() { close(c.closedCh) })
	return c.Conn.Close()
}
