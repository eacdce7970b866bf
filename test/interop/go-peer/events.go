package main

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// emitter writes one JSON object per line: "event" first, then the given
// fields in order, then "ts_ms" (Unix milliseconds). Safe for concurrent use.
type emitter struct {
	mu sync.Mutex
	w  io.Writer
}

func (e *emitter) emit(event string, kv ...interface{}) {
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	writeJSON(&b, event)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		b.WriteByte(',')
		writeJSON(&b, k)
		b.WriteByte(':')
		writeJSON(&b, kv[i+1])
	}
	b.WriteString(`,"ts_ms":`)
	writeJSON(&b, time.Now().UnixMilli())
	b.WriteString("}\n")
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(b.Bytes())
}

func writeJSON(b *bytes.Buffer, v interface{}) {
	switch x := v.(type) {
	case error:
		if x == nil {
			v = nil
		} else {
			v = x.Error()
		}
	case nil:
		v = nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		j, _ = json.Marshal(err.Error())
	}
	b.Write(j)
}

// errString returns the message of err, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
