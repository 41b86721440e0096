package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// PII fields (marked `(clickstream.options.v1.field) = {pii: true}`) are
// replaced by a keyed hash before an event is published, unless the
// sending environment is configured to keep them:
//
//   - a string becomes the hex HMAC-SHA256 of its UTF-8 bytes;
//   - bytes become the raw 32-byte HMAC-SHA256;
//   - repeated fields and map values are hashed element by element, and
//     pii fields of nested messages (at any depth) too;
//   - a pii field of another kind (a number, a bool, an enum, a message)
//     cannot hold a hash and is cleared.
//
// The same value hashes to the same digest under one secret, so consumers
// can still count and join on it. Dead letters keep the original bytes as
// received: they never reach the EVENTS stream, and a replay hashes the
// fields when it publishes.

// PIIHasher hashes pii fields with one secret.
type PIIHasher struct {
	secret []byte
	keep   map[string]bool
}

// NewPIIHasher hashes with secret and leaves the pii fields of the
// environments in keep as they are.
func NewPIIHasher(secret []byte, keep []string) *PIIHasher {
	h := &PIIHasher{secret: slices.Clone(secret), keep: map[string]bool{}}
	for _, env := range keep {
		h.keep[env] = true
	}
	return h
}

// Keeps reports whether env keeps pii fields as sent.
func (h *PIIHasher) Keeps(env string) bool { return h.keep[env] }

// Hash returns the HMAC-SHA256 of b.
func (h *PIIHasher) Hash(b []byte) []byte {
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(b)
	return mac.Sum(nil)
}

// HashString returns the hex HMAC-SHA256 of s, what a pii string becomes.
func (h *PIIHasher) HashString(s string) string { return hex.EncodeToString(h.Hash([]byte(s))) }

// hashPII replaces the pii fields of m, and of every message it holds, in
// place; c knows which fields are pii.
func (c *Catalogue) hashPII(m protoreflect.Message, h *PIIHasher) {
	md := m.Descriptor()
	if !c.piiWithin[md.FullName()] {
		return
	}
	for _, fd := range c.pii[md.FullName()] {
		if m.Has(fd) {
			hashField(m, fd, h)
		}
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		switch {
		case fd.IsMap():
			if vm := fd.MapValue().Message(); vm != nil && c.piiWithin[vm.FullName()] {
				m.Get(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
					c.hashPII(v.Message(), h)
					return true
				})
			}
		case fd.Message() != nil && c.piiWithin[fd.Message().FullName()]:
			if fd.IsList() {
				list := m.Get(fd).List()
				for j := range list.Len() {
					c.hashPII(list.Get(j).Message(), h)
				}
			} else {
				c.hashPII(m.Get(fd).Message(), h)
			}
		}
	}
}

// hashField replaces one populated pii field.
func hashField(m protoreflect.Message, fd protoreflect.FieldDescriptor, h *PIIHasher) {
	kind := fd.Kind()
	if fd.IsMap() {
		kind = fd.MapValue().Kind()
	}
	hash := func(v protoreflect.Value) protoreflect.Value {
		if kind == protoreflect.StringKind {
			return protoreflect.ValueOfString(h.HashString(v.String()))
		}
		return protoreflect.ValueOfBytes(h.Hash(v.Bytes()))
	}
	if kind != protoreflect.StringKind && kind != protoreflect.BytesKind {
		m.Clear(fd)
		return
	}
	switch {
	case fd.IsMap():
		entries := m.Get(fd).Map()
		entries.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			entries.Set(k, hash(v))
			return true
		})
	case fd.IsList():
		list := m.Get(fd).List()
		for j := range list.Len() {
			list.Set(j, hash(list.Get(j)))
		}
	default:
		m.Set(fd, hash(m.Get(fd)))
	}
}

// indexPII records the pii fields of md and of every message it reaches,
// and whether each holds any, once, so publishing never parses options.
// visiting guards against recursive messages.
func (c *Catalogue) indexPII(md protoreflect.MessageDescriptor, visiting map[protoreflect.FullName]bool) bool {
	name := md.FullName()
	if _, done := c.pii[name]; done {
		return c.piiWithin[name]
	}
	if visiting[name] {
		return false
	}
	visiting[name] = true
	defer delete(visiting, name)
	var own []protoreflect.FieldDescriptor
	within := false
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fieldOption(fd).GetPii() {
			own = append(own, fd)
			within = true
		}
		sub := fd.Message()
		if fd.IsMap() {
			sub = fd.MapValue().Message()
		}
		if sub != nil && c.indexPII(sub, visiting) {
			within = true
		}
	}
	c.pii[name] = own
	c.piiWithin[name] = within
	return within
}
