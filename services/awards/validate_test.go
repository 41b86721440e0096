package awards_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/services/awards"
)

func TestIdentifierProblem(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{"u1", true},
		{"user@example.com", true},
		{"пользователь-7", true},
		{strings.Repeat("x", 256), true},
		{strings.Repeat("x", 257), false},
		{"a\x00b", false},
		{"a\tb", false},
		{"\u0085", false}, // a C1 control
		{"\xff", false},
		{".", false},
		{"..", false},
		{"...", true},
	} {
		if got := awards.IdentifierProblem(tc.value) == ""; got != tc.ok {
			t.Errorf("IdentifierProblem(%q) accepts = %v, want %v", tc.value, got, tc.ok)
		}
	}
}

func TestJSONProblem(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{`{"a":"b"}`, true},
		{`{"a":"\\u0000"}`, true}, // an escaped backslash, then u0000: no NUL
		{`{"a":"\u0000"}`, false},
		{`{"\u0000":1}`, false},
		{`[[["x\u0000"]]]`, false},
		{"{\"a\":\"\xff\"}", false},
		{`not json \u0000`, true}, // left to the decoder
	} {
		if got := awards.JSONProblem(json.RawMessage(tc.raw)) == ""; got != tc.ok {
			t.Errorf("JSONProblem(%s) accepts = %v, want %v", tc.raw, got, tc.ok)
		}
	}
}

// FuzzIdentifier: an identifier the edge accepts is one PostgreSQL text
// holds and the bounds allow.
func FuzzIdentifier(f *testing.F) {
	for _, s := range []string{"u1", "", "..", "a\x00", "\xc3\x28", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if awards.IdentifierProblem(s) != "" {
			return
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || len(s) > 256 || s == "." || s == ".." {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzAchievementConfigJSON: an admin API configuration body (the JSON the
// REST gateway decodes) converts and compiles without panicking, and what
// compiles is storable: no text jsonb or text columns refuse, and it
// converts back for the API.
func FuzzAchievementConfigJSON(f *testing.F) {
	f.Add([]byte(`{"id":"a","title":"A","objectives":[{"key":"k","sources":["photos"],"rule":{"name":"CountRule"}}],"strategy":{"goal":1,"strategy":[{"objective_id":"k"}]}}`))
	f.Add([]byte(`{"id":"b","title":"B","policy":"revocable","startsAt":"2025-01-01T00:00:00Z","objectives":[{"key":"r","sources":["reviews"],
		"filters":[{"name":"ReviewsLengthFilter","config":{"allowed_length":100}}],"rule":{"name":"ReviewUniqueByObjectRule"}}],
		"strategy":{"goal":3,"operation":"min","strategy":[{"objective_id":"r","normalization_factor":0.5}]}}`))
	f.Add([]byte(`{"id":"c","title":"\u0000","objectives":[{"key":"k","sources":["photos"],"rule":{"name":"CountRule","config":{"x":"\u0000"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p awardsv1.AchievementConfig
		if err := protojson.Unmarshal(data, &p); err != nil {
			return
		}
		c, err := awards.ConfigFromProto(&p)
		if err != nil {
			return
		}
		a, err := awards.Compile(awards.NewComponents(), schemas, c)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		cc := a.Config
		for name, raw := range map[string]json.RawMessage{"strategy": cc.Strategy} {
			if p := awards.JSONProblem(raw); p != "" {
				t.Fatalf("compiled with %s that %s", name, p)
			}
		}
		for _, o := range cc.Objectives {
			if awards.JSONProblem(o.Filters) != "" || awards.JSONProblem(o.Rule) != "" {
				t.Fatalf("compiled objective %q with filters %s rule %s", o.Key, o.Filters, o.Rule)
			}
		}
		for _, s := range []string{cc.ID, cc.Title, cc.Description, cc.ImageURL} {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("compiled with text %q", s)
			}
		}
		if _, err := awards.ConfigToProto(cc); err != nil {
			t.Fatalf("a compiled configuration does not convert back: %v", err)
		}
	})
}

// FuzzLogPageToken: any page token of the admin processing log decodes or
// is refused, without panicking.
func FuzzLogPageToken(f *testing.F) {
	f.Add("eyJQcm9jZXNzZWRBdCI6IjIwMjUtMDEtMDFUMDA6MDA6MDBaIiwiUmVjb3JkSUQiOiJyMSJ9")
	f.Add("eyJSZWNvcmRJRCI6Ilx1MDAwMCJ9")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, token string) {
		_, _ = awards.DecodeLogPageToken(token)
	})
}
