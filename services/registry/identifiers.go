package registry

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Bounds on the strings a request may carry. Names (environments, events,
// languages, versions, actors) are short; prose (descriptions, messages)
// may be long but not unbounded.
const (
	maxNameBytes = 256
	maxTextBytes = 64 << 10
)

// proseFields are the request fields holding prose, where line breaks and
// tabs are fine; every other string is a name.
var proseFields = map[protoreflect.Name]bool{
	"description": true,
	"message":     true,
	"contact":     true,
	"reason":      true,
	"text":        true,
}

// checkName says what is wrong with a name taken from outside (a path
// segment, a query value, a request field), naming the parameter: it must
// be valid UTF-8 without NUL or control characters, and at most
// maxNameBytes long. PostgreSQL refuses NUL and invalid UTF-8 in text, so
// nothing else may reach it.
func checkName(param, value string) error {
	return checkString(param, value, false)
}

// checkString checks a name, or prose when prose is set (line breaks and
// tabs allowed, up to maxTextBytes).
func checkString(param, value string, prose bool) error {
	limit := maxNameBytes
	if prose {
		limit = maxTextBytes
	}
	if len(value) > limit {
		return invalidf("%s is %d bytes long: at most %d are allowed", param, len(value), limit)
	}
	if !utf8.ValidString(value) {
		return invalidf("%s %s is not valid UTF-8", param, strconv.QuoteToASCII(truncate(value)))
	}
	for i, r := range value {
		switch {
		case r == 0:
			return invalidf("%s %s holds a NUL byte at offset %d", param, strconv.QuoteToASCII(truncate(value)), i)
		case prose && (r == '\n' || r == '\r' || r == '\t'):
		case unicode.IsControl(r):
			return invalidf("%s %s holds the control character %U at offset %d", param, strconv.QuoteToASCII(truncate(value)), r, i)
		}
	}
	return nil
}

// truncate shortens a value quoted in an error.
func truncate(s string) string {
	const keep = 64
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "…"
}

// checkRequest checks every string of a request message, nested ones too,
// with checkString: prose fields as prose, the rest as names. Descriptor
// sets (PushSchemas) are not names and are checked by schema.NewSet. The
// error is InvalidArgument naming the field, e.g. "counts[2].environment".
func checkRequest(req proto.Message) error {
	if err := checkMessage("", req.ProtoReflect()); err != nil {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}

func checkMessage(prefix string, m protoreflect.Message) error {
	if m.Descriptor().FullName() == "google.protobuf.FileDescriptorSet" {
		return nil
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			// No request carries a map; nothing to check.
		case fd.IsList():
			list := v.List()
			for i := range list.Len() {
				if err = checkValue(fmt.Sprintf("%s[%d]", name, i), fd, list.Get(i)); err != nil {
					return false
				}
			}
		default:
			err = checkValue(name, fd, v)
		}
		return err == nil
	})
	return err
}

func checkValue(name string, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return checkString(name, v.String(), proseFields[fd.Name()])
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(name+".", v.Message())
	}
	return nil
}
