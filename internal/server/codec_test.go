package server

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// nestedList is a google.protobuf.Value holding lists depth deep.
func nestedList(depth int) *structpb.Value {
	v := structpb.NewNullValue()
	for range depth {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

// Messages nested deeper than MaxMessageDepth are refused by the Connect
// codecs, binary and JSON, before the decoders recurse further; shallower
// ones decode.
func TestCodecsBoundNesting(t *testing.T) {
	for _, c := range []struct {
		depth int
		ok    bool
	}{{10, true}, {MaxMessageDepth / 3, true}, {MaxMessageDepth, false}, {5000, false}} {
		bin, err := proto.Marshal(nestedList(c.depth))
		if err != nil {
			t.Fatal(err)
		}
		json := strings.Repeat("[", c.depth) + "null" + strings.Repeat("]", c.depth)
		for name, decode := range map[string]func() error{
			"proto": func() error { return protoCodec{}.Unmarshal(bin, &structpb.Value{}) },
			"json":  func() error { return jsonCodec{name: "json"}.Unmarshal([]byte(json), &structpb.Value{}) },
		} {
			err := decode()
			t.Logf("%s, lists %d deep: %v", name, c.depth, err)
			if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), "nest at most") {
				t.Errorf("%s, lists %d deep: %v, want ok %v", name, c.depth, err, c.ok)
			}
		}
	}
}
