package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// A request body over the batch byte limit is refused with a clear error on
// REST and on Connect, before anything is validated or published.
func TestBatchByteLimit(t *testing.T) {
	const limit = 4 << 10
	svc, b := newService(t, ingest.Config{MaxBatchBytes: limit})
	routes := ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	big := strings.Repeat("x", 2*limit)
	body := `{"events":[{"json":{"name":"clickstream.events.v1.ItemViewV2","data":{"referrer":"` + big + `"}}}]}`
	resp, err := http.Post(srv.URL()+"/v1/events:batch", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("REST: status %d, want 413: %s", resp.StatusCode, data)
	}
	var e struct{ Message string }
	if json.Unmarshal(data, &e) != nil || !strings.Contains(e.Message, "the limit is 4096 bytes") {
		t.Errorf("REST: message %q does not state the limit", data)
	}

	client := ingestv1connect.NewIngestServiceClient(http.DefaultClient, srv.URL())
	ev := jsonEvent(t, "big", &ingestv1.JsonEvent{Name: "clickstream.events.v1.ItemViewV2"}, `{"referrer":"`+big+`"}`)
	_, err = client.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev}})
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("Connect: %v, want ResourceExhausted", err)
	}
	if n := len(storedMsgs(t, b, "DEADLETTER")) + len(storedMsgs(t, b, "EVENTS")); n != 0 {
		t.Errorf("%d messages stored from refused requests, want 0", n)
	}
}
