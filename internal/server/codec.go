package server

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxMessageDepth bounds how deep a request message may nest, in binary
// protobuf and in JSON, on every protocol: the decoders recurse once per
// level. A JSON object or array inside a google.protobuf.Struct takes two
// levels, so an awards strategy nested to its own bound (32 groups) takes
// about 130; the services then refuse deeper ones naming the field.
const MaxMessageDepth = 1000

// JSONDecoders decode some request messages from JSON in a way of their
// own, by the message's full name, on the REST gateway and on every
// protocol's JSON codec alike: ingest's batch, for one, is split into its
// events so that one event that does not decode is rejected alone.
type JSONDecoders map[protoreflect.FullName]func(data []byte, m proto.Message) error

// decoder is the decoder of m's message type, if it has one.
func (d JSONDecoders) decoder(m proto.Message) func([]byte, proto.Message) error {
	if len(d) == 0 {
		return nil
	}
	return d[m.ProtoReflect().Descriptor().FullName()]
}

// JSONEncoders write some response messages as JSON in a way of their own,
// by the message's full name, on the REST gateway: what the gateway's
// protobuf JSON would write (unpopulated fields included, JSON names), up
// to spacing, only sooner (ingest's batch verdicts, for one). An encoder's
// error falls back to protobuf JSON, which then says what is wrong.
type JSONEncoders map[protoreflect.FullName]func(m proto.Message) ([]byte, error)

// encoder is the encoder of m's message type, if it has one.
func (e JSONEncoders) encoder(m proto.Message) func(proto.Message) ([]byte, error) {
	if len(e) == 0 {
		return nil
	}
	return e[m.ProtoReflect().Descriptor().FullName()]
}

// codecs are the Connect codecs of every handler: Connect's own, with the
// nesting bound of MaxMessageDepth instead of the libraries' 10,000, and
// the JSON codec taking the routes' own decoders.
func codecs(decoders JSONDecoders) []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(protoCodec{}),
		connect.WithCodec(jsonCodec{name: "json", decoders: decoders}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8", decoders: decoders}),
	}
}

// protoCodec is Connect's binary protobuf codec, depth-bounded.
type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, errNotProto(m)
	}
	return proto.Marshal(msg)
}

// MarshalAppend lets Connect reuse its buffers, as with its own codec.
func (protoCodec) MarshalAppend(dst []byte, m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, errNotProto(m)
	}
	return proto.MarshalOptions{}.MarshalAppend(dst, msg)
}

func (protoCodec) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return errNotProto(m)
	}
	if err := (proto.UnmarshalOptions{RecursionLimit: MaxMessageDepth}).Unmarshal(data, msg); err != nil {
		return fmt.Errorf("unmarshal into %T (messages nest at most %d levels): %w", m, MaxMessageDepth, err)
	}
	return nil
}

// jsonCodec is Connect's protobuf JSON codec, depth-bounded.
type jsonCodec struct {
	name     string
	decoders JSONDecoders
}

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, errNotProto(m)
	}
	return protojson.Marshal(msg)
}

func (c jsonCodec) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return errNotProto(m)
	}
	if len(data) == 0 {
		return errors.New("zero-length payload is not a valid JSON object")
	}
	if decode := c.decoders.decoder(msg); decode != nil {
		return decode(data, msg)
	}
	// Unknown fields are dropped, as Connect's own codec does, so clients
	// and servers need not share one version of a schema.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true, RecursionLimit: MaxMessageDepth}).Unmarshal(data, msg); err != nil {
		return fmt.Errorf("unmarshal into %T (messages nest at most %d levels): %w", m, MaxMessageDepth, err)
	}
	return nil
}

func errNotProto(m any) error {
	return fmt.Errorf("%T is not a protobuf message", m)
}
