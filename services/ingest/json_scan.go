package ingest

import (
	"unicode/utf8"
)

// The hot path of a JSON batch splits the batch into its events and each
// event into its top-level fields without decoding them: a field's value
// is kept as the bytes received, and only the event's data is decoded, once,
// straight into the event's message (decodeJSONFast). jsonScanner checks
// the syntax of everything it skips, as strictly as encoding/json does, so
// a batch it splits is one encoding/json would have taken; whatever it
// does not take goes the general way, which says what is wrong.

// jsonField is one member of a JSON object: its key as received (without
// quotes; escaped keys are not taken) and its value's bytes.
type jsonField struct {
	key   []byte
	value []byte
}

// jsonScanner reads JSON from b at i.
type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// splitObject splits the JSON object raw (surrounding whitespace allowed)
// into its members, appended to fields. False when raw is not one valid
// JSON object, has a key with an escape, or nests deeper than
// maxJSONDepth.
func splitObject(raw []byte, fields []jsonField) ([]jsonField, bool) {
	s := jsonScanner{b: raw}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return fields, false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return fields, s.end()
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return fields, false
		}
		start := s.i + 1
		escaped, ok := s.str()
		if !ok || escaped {
			return fields, false
		}
		key := s.b[start : s.i-1]
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return fields, false
		}
		s.i++
		s.ws()
		vstart := s.i
		if !s.value() {
			return fields, false
		}
		fields = append(fields, jsonField{key: key, value: s.b[vstart:s.i]})
		s.ws()
		if s.i >= len(s.b) {
			return fields, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return fields, s.end()
		default:
			return fields, false
		}
	}
}

// splitArray splits the JSON array raw into its elements' bytes, appended
// to elems. False as splitObject.
func splitArray(raw []byte, elems [][]byte) ([][]byte, bool) {
	s := jsonScanner{b: raw}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '[' {
		return elems, false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return elems, s.end()
	}
	for {
		s.ws()
		start := s.i
		if !s.value() {
			return elems, false
		}
		elems = append(elems, s.b[start:s.i])
		s.ws()
		if s.i >= len(s.b) {
			return elems, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return elems, s.end()
		default:
			return elems, false
		}
	}
}

// end is true when only whitespace follows.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// value skips one JSON value, checking its syntax.
func (s *jsonScanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		return s.container(c)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *jsonScanner) container(open byte) bool {
	s.depth++
	if s.depth > maxJSONDepth {
		return false
	}
	defer func() { s.depth-- }()
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == closing {
		s.i++
		return true
	}
	for {
		s.ws()
		if open == '{' {
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return false
			}
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return false
			}
			s.i++
			s.ws()
		}
		if !s.value() {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case closing:
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str skips a string at s.i (its opening quote), checking its escapes and
// that it holds no control character; escaped says it has an escape.
func (s *jsonScanner) str() (escaped, ok bool) {
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, true
		case c < ' ':
			return escaped, false
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return escaped, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return escaped, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return escaped, false
					}
				}
				s.i += 5
			default:
				return escaped, false
			}
		default:
			s.i++
		}
	}
	return escaped, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i >= len(s.b):
		return false
	case s.b[s.i] == '0':
		s.i++
	case '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits skips [0-9]+; false when there is none.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// plainString is the text of the JSON string raw when it has no escape
// and is valid UTF-8 (what protojson would decode it to); false otherwise.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < ' ' {
			return "", false
		}
	}
	if !utf8.Valid(body) {
		return "", false
	}
	return string(body), true
}

// plainUint32 is the JSON number raw when it is a plain decimal integer
// that fits a uint32 (no sign, fraction, exponent or leading zero).
func plainUint32(raw []byte) (uint32, bool) {
	if len(raw) == 0 || len(raw) > 10 || (raw[0] == '0' && len(raw) > 1) {
		return 0, false
	}
	var v uint64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}
