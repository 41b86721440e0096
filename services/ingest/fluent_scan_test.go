package ingest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzScanMsgpack: the scan that bounds a Fluent message reads exactly the
// value msgpack's own decoder reads (same bytes, same length) whenever it
// accepts one, and accepts every value msgpack reads that nests within the
// bound. Seeded with deep nesting in every container form and with
// headers claiming far more than follows.
func FuzzScanMsgpack(f *testing.F) {
	seed := func(v any) []byte {
		b, _ := msgpack.Marshal(v)
		return b
	}
	f.Add(seed([]any{"clickstream.item_view.v2", 1714564800, map[string]any{"a": []any{1, "x", 2.5, nil, true}}, map[string]any{"chunk": "a"}}))
	f.Add(seed(map[string]any{"b": []byte{1, 2, 3}, "n": -5, "u": uint64(1) << 40}))
	f.Add(bytes.Repeat([]byte{0x91}, 10_000))                              // fixarray
	f.Add(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 5_000))                    // fixmap
	f.Add(bytes.Repeat([]byte{0xdc, 0x00, 0x01}, 5_000))                   // array16
	f.Add(bytes.Repeat([]byte{0xdf, 0x00, 0x00, 0x00, 0x01, 0xc0}, 2_000)) // map32
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0x00})
	f.Add([]byte{0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0xc7, 0x03, 0x05, 1, 2, 3})
	f.Add([]byte{0xc1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var raw bytes.Buffer
		_, err := scanMsgpack(bytes.NewReader(data), &raw, maxFluentMessageDepth)
		if errors.Is(err, errTooDeep) {
			return
		}
		// Past the depth check, msgpack's recursive reader is safe here.
		want, werr := msgpack.NewDecoder(bytes.NewReader(data)).DecodeRaw()
		switch {
		case err == nil && werr != nil:
			t.Fatalf("scan accepted % x; msgpack refuses it: %v", data, werr)
		case err != nil && werr == nil:
			t.Fatalf("scan refused % x (%v); msgpack reads %d bytes", data, err, len(want))
		case err == nil && !bytes.Equal(raw.Bytes(), want):
			t.Fatalf("scan read % x, msgpack % x", raw.Bytes(), want)
		}
	})
}
