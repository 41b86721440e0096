package ingestclient

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// Typed is an event in the typed form: msg is a registered event message,
// e.g. *eventsv1.ItemViewV2 from the generated langpack.
func Typed(msg proto.Message) (*ingestv1.Event, error) {
	a, err := anypb.New(msg)
	if err != nil {
		return nil, fmt.Errorf("typed event %s: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return &ingestv1.Event{Payload: &ingestv1.Event_Typed{Typed: a}}, nil
}

// JSON is an event in the JSON form: name is the full message name, e.g.
// "clickstream.events.v1.ItemViewV2", and data its fields in protobuf JSON
// names: a map, a struct that encoding/json encodes as such, a
// json.RawMessage, or a proto.Message. Send 64-bit integers beyond 2^53 as
// strings, as protobuf JSON does.
func JSON(name string, data any) (*ingestv1.Event, error) {
	s, err := jsonStruct(data)
	if err != nil {
		return nil, fmt.Errorf("json event %s: %w", name, err)
	}
	return &ingestv1.Event{Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{Name: name, Data: s}}}, nil
}

// JSONByID is JSON with the event named by its id and version.
func JSONByID(id, version uint32, data any) (*ingestv1.Event, error) {
	s, err := jsonStruct(data)
	if err != nil {
		return nil, fmt.Errorf("json event %d v%d: %w", id, version, err)
	}
	return &ingestv1.Event{Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{EventId: id, Version: version, Data: s}}}, nil
}

func jsonStruct(data any) (*structpb.Struct, error) {
	var raw []byte
	switch d := data.(type) {
	case *structpb.Struct:
		return d, nil
	case proto.Message:
		b, err := protojson.Marshal(d)
		if err != nil {
			return nil, err
		}
		raw = b
	case []byte:
		raw = d
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("data is not a JSON object: %w", err)
	}
	return &s, nil
}

// Mobile is an event in the generic map form mobile apps send, stamped
// with the current time: params hold the event's fields by name, nested
// fields by dotted paths ("context.user_id"), repeated ones as JSON arrays.
func Mobile(id, version uint32, params map[string]string) *ingestv1.Event {
	return &ingestv1.Event{Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
		EventId: id, Version: version, Timestamp: timestamppb.Now(), Params: params,
	}}}
}
