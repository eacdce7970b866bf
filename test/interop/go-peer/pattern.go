package main

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// patternModulus: byte i of every generated payload is i mod 251 (a prime,
// so the pattern never lines up with power-of-two frame or window sizes).
const patternModulus = 251

// patternBlock holds the pattern repeated, long enough to slice any write
// of up to chunkSize bytes starting at any phase.
const chunkSize = 64 * 1024

var patternBlock = func() []byte {
	b := make([]byte, chunkSize+patternModulus)
	for i := range b {
		b[i] = byte(i % patternModulus)
	}
	return b
}()

// patternChunk returns the pattern bytes for offsets [off, off+n), n <= chunkSize.
func patternChunk(off int64, n int) []byte {
	start := int(off % patternModulus)
	return patternBlock[start : start+n]
}

// writePattern writes n bytes of the pattern to w and returns the count
// written and the sha256 of what was written.
func writePattern(w io.Writer, n int64) (int64, string, error) {
	h := sha256.New()
	var off int64
	for off < n {
		size := chunkSize
		if rest := n - off; rest < int64(size) {
			size = int(rest)
		}
		chunk := patternChunk(off, size)
		written, err := w.Write(chunk)
		h.Write(chunk[:written])
		off += int64(written)
		if err != nil {
			return off, hexSum(h), err
		}
	}
	return off, hexSum(h), nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// patternSHA256 is the sha256 of the first n pattern bytes.
func patternSHA256(n int64) string {
	_, sum, _ := writePattern(io.Discard, n)
	return sum
}
