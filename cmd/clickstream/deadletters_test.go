package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/server"
	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

const deadLettersToken = "deadletters-cli-test"

// startIngestWithDeadLetters serves ingest on a free port over a fresh bus
// holding three dead letters of environment "web": an ItemViewV2 that is
// valid now, and two JSON events that are not. It returns ingest's URL.
func startIngestWithDeadLetters(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := bustest.New(t)
	set, err := schema.Compile(ctx, protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	catalogue, err := ingest.NewCatalogue(set.FileDescriptorSet(), 1)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := proto.Marshal(&eventsv1.ItemViewV2{
		Context: &eventsv1.Context{UserId: "u-1", AppVersion: "1.0"}, ItemId: 42,
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 2, 14, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	dl := func(key, reason, form, event string, data []byte) bus.Message {
		return bus.Message{Subject: "deadletter.web." + reason, MsgID: "dl-" + key, Data: data, Header: map[string]string{
			ingest.HeaderReason: reason, ingest.HeaderFieldPath: "extra", ingest.HeaderMessage: "the payload has a field the registered version does not define",
			ingest.HeaderEvent: event, ingest.HeaderEnvironment: "web", ingest.HeaderPayloadForm: form, ingest.HeaderReceivedAt: at,
		}}
	}
	res, err := b.PublishAll(ctx, []bus.Message{
		dl("k-fixed", "REJECT_REASON_UNKNOWN_FIELD", "typed", "clickstream.events.v1.ItemViewV2", valid),
		dl("k-bad-1", "REJECT_REASON_MISSING_REQUIRED_FIELD", "json", "clickstream.events.v1.ItemViewV2", []byte(`{"referrer":"x"}`)),
		dl("k-bad-2", "REJECT_REASON_MISSING_REQUIRED_FIELD", "json", "clickstream.events.v1.ItemViewV2", []byte(`{}`)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	svc := ingest.New(ingest.Config{Environment: "web"}, catalogue, b)
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0"},
		ingest.Routes(ingest.RoutesConfig{AdminToken: deadLettersToken}, svc, ingest.NewAdmin(svc)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest stopped with error: %v", err)
		}
	})
	return srv.URL()
}

// runDeadLetters runs the CLI with the deadletters command, registered
// once root.go has it.
func runDeadLetters(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	if c, _, err := root.Find([]string{"deadletters"}); err != nil || c == root {
		root.AddCommand(newDeadLettersCommand())
	}
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		t.Logf("%v: %s", args, errOut.String())
	}
	return out.String(), err
}

func TestDeadLettersCommands(t *testing.T) {
	url := startIngestWithDeadLetters(t)
	t.Setenv("CLICKSTREAM_INGEST", url)

	if _, err := runDeadLetters(t, "deadletters", "list"); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("list without the admin token: %v, want an error about the admin token", err)
	}
	t.Setenv("CLICKSTREAM_ADMIN_TOKEN", deadLettersToken)

	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"deadletters", "list"}, []string{"SEQ", "REASON", "UNKNOWN_FIELD", "MISSING_REQUIRED_FIELD", "ItemViewV2", "k-fixed", "k-bad-2"}, nil},
		{[]string{"deadletters", "list", "--reason", "unknown-field"}, []string{"k-fixed"}, []string{"k-bad-1"}},
		{[]string{"deadletters", "list", "--env", "ios"}, []string{"no dead letters"}, []string{"k-fixed"}},
		{[]string{"deadletters", "list", "--limit", "2"}, []string{"k-fixed", "k-bad-1", "more: --after 2"}, []string{"k-bad-2"}},
		{[]string{"deadletters", "show", "2"}, []string{"Key:", "k-bad-1", "MISSING_REQUIRED_FIELD", `{"referrer":"x"}`}, nil},
		{[]string{"deadletters", "replay", "--reason", "missing_required_field"}, []string{"rejected", "0 accepted, 2 still rejected"}, nil},
		{[]string{"deadletters", "replay"}, []string{"accepted", "1 accepted, 2 still rejected"}, nil},
		{[]string{"deadletters", "list"}, []string{"k-bad-1", "k-bad-2"}, []string{"k-fixed"}},
	}
	for _, tt := range tests {
		out, err := runDeadLetters(t, tt.args...)
		if err != nil {
			t.Errorf("%v: %v\n%s", tt.args, err, out)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(out, n) {
				t.Errorf("%v: output has %q:\n%s", tt.args, n, out)
			}
		}
	}

	out, err := runDeadLetters(t, "deadletters", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var listed struct {
		DeadLetters []struct {
			Sequence string `json:"sequence"`
			EventKey string `json:"eventKey"`
		} `json:"deadLetters"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.DeadLetters) != 2 || listed.DeadLetters[0].EventKey != "k-bad-1" {
		t.Errorf("list -o json: %v\n%s", err, out)
	}

	if _, err := runDeadLetters(t, "deadletters", "show", "1"); err == nil || !strings.Contains(err.Error(), "dead letter 1") {
		t.Errorf("show of a replayed dead letter: %v, want not found naming it", err)
	}
	if _, err := runDeadLetters(t, "deadletters", "list", "--reason", "bogus"); err == nil || !strings.Contains(err.Error(), "unknown_field") {
		t.Errorf("list --reason bogus: %v, want the reasons listed", err)
	}
}
