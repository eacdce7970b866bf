package main

import (
	"encoding/binary"
	"io"
	"net"
)

// Wire constants of spec.md (hashicorp/yamux const.go).
const (
	headerSize       = 12
	typeData         = 0
	typeWindowUpdate = 1
	typePing         = 2
	typeGoAway       = 3
	flagSYN          = 1
)

func encodeHeader(msgType uint8, flags uint16, streamID, length uint32) []byte {
	h := make([]byte, headerSize)
	h[0] = 0
	h[1] = msgType
	binary.BigEndian.PutUint16(h[2:4], flags)
	binary.BigEndian.PutUint32(h[4:8], streamID)
	binary.BigEndian.PutUint32(h[8:12], length)
	return h
}

// runOverrun speaks yamux by hand, without the library: it opens a stream
// and sends more data than the initial 256 KiB window allows, then prints
// every frame the other side sends back (goaway {code} for a GoAway) until
// the connection ends.
func runOverrun(o options) int {
	conn, ok := dial(o)
	if !ok {
		return 1
	}
	defer conn.Close()
	out.emit("ready", "role", o.role, "mode", o.mode, "local", conn.LocalAddr().String(), "remote", conn.RemoteAddr().String())
	id := uint32(1)
	if o.role == "server" {
		id = 2
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		readFrames(conn)
	}()
	err := writeOverrun(conn, id, o)
	out.emit("overrun_sent", "stream", id, "bytes", o.bytes, "extra", o.extra, "syn", o.rawSyn, "error", err)
	<-done
	return 0
}

func writeOverrun(conn net.Conn, id uint32, o options) error {
	firstFlags := uint16(flagSYN)
	if o.rawSyn == "window-update" {
		if _, err := conn.Write(encodeHeader(typeWindowUpdate, flagSYN, id, 0)); err != nil {
			return err
		}
		firstFlags = 0
	}
	if _, err := conn.Write(encodeHeader(typeData, firstFlags, id, uint32(o.bytes))); err != nil {
		return err
	}
	if _, _, err := writePattern(conn, o.bytes); err != nil {
		return err
	}
	if o.extra > 0 {
		if _, err := conn.Write(encodeHeader(typeData, 0, id, uint32(o.extra))); err != nil {
			return err
		}
		if _, _, err := writePattern(conn, o.extra); err != nil {
			return err
		}
	}
	return nil
}

// readFrames decodes the frames the other side sends until the connection
// ends, printing frame {type, flags, stream, length} for each and
// goaway {code} for a GoAway.
func readFrames(conn net.Conn) {
	hdr := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(conn, hdr); err != nil {
			out.emit("conn_closed", "error", err)
			return
		}
		t := hdr[1]
		flags := binary.BigEndian.Uint16(hdr[2:4])
		stream := binary.BigEndian.Uint32(hdr[4:8])
		length := binary.BigEndian.Uint32(hdr[8:12])
		out.emit("frame", "version", hdr[0], "type", t, "flags", flags, "stream", stream, "length", length)
		if t == typeGoAway {
			out.emit("goaway", "code", length)
		}
		if t == typeData && length > 0 {
			if _, err := io.CopyN(io.Discard, conn, int64(length)); err != nil {
				out.emit("conn_closed", "error", err)
				return
			}
		}
	}
}
