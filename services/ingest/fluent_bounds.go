package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// A Fluent message is read and checked without recursion before anything
// decodes it: scanMsgpack walks one msgpack value with an explicit stack,
// refusing nesting deeper than maxFluentMessageDepth, and estimates what
// the decoded value will hold in memory. The decoders that run afterwards
// (decodeValue, msgpack's Skip) recurse, but only into values this scan
// has bounded.

// maxFluentMessageDepth bounds the nesting of a whole message: the
// record's own bound (maxFluentDepth) plus the protocol's wrapping
// ([tag, [[[time, metadata], record], ...], option]).
const maxFluentMessageDepth = maxFluentDepth + 8

// Estimated bytes the decoded form holds per value, beyond its payload: an
// interface slot and a string or slice header, and for a container its own
// header and the map's buckets per entry.
const (
	decodedValueCost     = 32
	decodedContainerCost = 64
)

// errTooDeep is returned for a message nested deeper than its bound.
var errTooDeep = fmt.Errorf("a message is nested deeper than %d levels (a record may nest %d): the connection is closed", maxFluentMessageDepth, maxFluentDepth)

// msgpackSource is what scanMsgpack reads: a connection's buffered reader
// or a chunk's bytes.
type msgpackSource interface {
	io.Reader
	io.ByteReader
}

// scanMsgpack reads one msgpack value from src, appending its bytes to raw
// when raw is not nil, without recursion; it fails on nesting deeper than
// maxDepth and on a type byte msgpack does not define. It returns the
// value's bytes and an estimate of the memory its decoded form holds.
func scanMsgpack(src msgpackSource, raw *bytes.Buffer, maxDepth int) (cost int64, err error) {
	// pending[i] is how many values the container at depth i+1 still
	// holds; the top-level value is one value.
	pending := make([]uint64, 1, 8)
	pending[0] = 1
	started := false
	var head [9]byte
	readN := func(n int) ([]byte, error) {
		if _, err := io.ReadFull(src, head[:n]); err != nil {
			return nil, err
		}
		if raw != nil {
			raw.Write(head[:n])
		}
		return head[:n], nil
	}
	skip := func(n uint64) error {
		cost += int64(n)
		w := io.Discard
		if raw != nil {
			w = raw
		}
		copied, err := io.CopyN(w, src, int64(n))
		if err == io.EOF && uint64(copied) < n {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	size := func(n int) (uint64, error) {
		b, err := readN(n)
		if err != nil {
			return 0, err
		}
		switch n {
		case 1:
			return uint64(b[0]), nil
		case 2:
			return uint64(binary.BigEndian.Uint16(b)), nil
		}
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	for len(pending) > 0 {
		top := len(pending) - 1
		if pending[top] == 0 {
			pending = pending[:top]
			continue
		}
		pending[top]--
		c, err := src.ReadByte()
		if err != nil {
			if err == io.EOF && started {
				err = io.ErrUnexpectedEOF
			}
			return cost, err
		}
		started = true
		if raw != nil {
			raw.WriteByte(c)
		}
		cost += decodedValueCost
		var items uint64
		container := false
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			// fixint, nil, false, true
		case c >= 0x80 && c <= 0x8f:
			items, container = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			items, container = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			err = skip(uint64(c & 0x1f))
		case c == 0xc4 || c == 0xd9: // bin8, str8
			var n uint64
			if n, err = size(1); err == nil {
				err = skip(n)
			}
		case c == 0xc5 || c == 0xda: // bin16, str16
			var n uint64
			if n, err = size(2); err == nil {
				err = skip(n)
			}
		case c == 0xc6 || c == 0xdb: // bin32, str32
			var n uint64
			if n, err = size(4); err == nil {
				err = skip(n)
			}
		case c >= 0xc7 && c <= 0xc9: // ext8, ext16, ext32: length, type, data
			var n uint64
			if n, err = size(1 << (c - 0xc7)); err == nil {
				err = skip(n + 1)
			}
		case c == 0xca || c == 0xce || c == 0xd2:
			err = skip(4)
		case c == 0xcb || c == 0xcf || c == 0xd3:
			err = skip(8)
		case c == 0xcc || c == 0xd0:
			err = skip(1)
		case c == 0xcd || c == 0xd1:
			err = skip(2)
		case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16: type and data
			err = skip(1 + 1<<(c-0xd4))
		case c == 0xdc:
			items, err = size(2)
			container = true
		case c == 0xdd:
			items, err = size(4)
			container = true
		case c == 0xde:
			items, err = size(2)
			items, container = 2*items, true
		case c == 0xdf:
			items, err = size(4)
			items, container = 2*items, true
		default:
			return cost, fmt.Errorf("msgpack code 0x%02x is not a value", c)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return cost, err
		}
		if container {
			if len(pending) > maxDepth {
				return cost, errTooDeep
			}
			cost += decodedContainerCost
			pending = append(pending, items)
		}
	}
	return cost, nil
}

// checkPacked scans the entries of a PackedForward chunk (its bytes, once
// decompressed) without recursion, so a nested entry is refused before
// anything decodes it, and returns the estimated memory their decoded
// form holds.
func checkPacked(packed []byte) (int64, error) {
	r := bytes.NewReader(packed)
	var cost int64
	for r.Len() > 0 {
		c, err := scanMsgpack(r, nil, maxFluentMessageDepth)
		cost += c
		if err != nil {
			if errors.Is(err, errTooDeep) {
				return cost, errTooDeep
			}
			return cost, fmt.Errorf("an entry of the packed chunk: %w", err)
		}
	}
	return cost, nil
}

// messageMemory is what one message holds of the input's budget, taken a
// slice at a time as it is read and decoded, and given back whole once the
// message is published.
type messageMemory struct {
	input *fluentMemory
	// held is what the message has taken.
	held int64
	// used is what the message uses of held.
	used int64
}

// messageMemorySlice is how much a message takes of the budget at a time
// while it is read.
const messageMemorySlice = 64 << 10

// use counts n more bytes held by the message, taking more of the budget
// when what it took is used up.
func (m *messageMemory) use(n int64) error {
	m.used += n
	if m.used <= m.held {
		return nil
	}
	more := max(m.used-m.held, messageMemorySlice)
	if err := m.input.take(more); err != nil {
		m.used -= n
		return err
	}
	m.held += more
	return nil
}

// release gives back everything the message took.
func (m *messageMemory) release() {
	m.input.give(m.held)
	m.held, m.used = 0, 0
}

// fluentMemory counts the bytes the Fluent input holds across its
// connections (messages read and their decoded form, until published) and
// refuses a message that would take it over its budget.
type fluentMemory struct {
	held   atomic.Int64
	budget int64
}

// errOverMemory is why a connection is closed when the input holds its
// whole memory budget: the client sends the chunk again later.
type errOverMemory struct {
	need, held, budget int64
}

func (e errOverMemory) Error() string {
	return fmt.Sprintf("the Fluent input holds %d bytes of messages; %d more would go over its budget of %d bytes (FluentConfig.MaxHeldBytes): "+
		"the connection is closed, send the chunk again later", e.held, e.need, e.budget)
}

// take reserves n bytes, or fails when that goes over the budget.
func (m *fluentMemory) take(n int64) error {
	if held := m.held.Add(n); held > m.budget {
		m.held.Add(-n)
		return errOverMemory{need: n, held: held - n, budget: m.budget}
	}
	return nil
}

// give returns n bytes taken.
func (m *fluentMemory) give(n int64) { m.held.Add(-n) }
