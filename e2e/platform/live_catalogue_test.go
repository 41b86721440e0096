package platform_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/vmihailenco/msgpack/v5"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

const tripV2 = "clickstream.events.v1.NavigationTripFinishedV2"

// reflectSymbol asks ingest's server reflection for the file defining
// symbol: the message names the file defines, or the error it answered.
func reflectSymbol(t *testing.T, url, symbol string) ([]string, string) {
	t.Helper()
	conn := grpcConn(t, url)
	stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, e.GetErrorMessage()
	}
	var names []string
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			t.Fatal(err)
		}
		for _, m := range fd.GetMessageType() {
			names = append(names, fd.GetPackage()+"."+m.GetName())
		}
	}
	return names, ""
}

// fluentSender is a Fluent Forward connection past the shared-key
// handshake.
type fluentSender struct {
	conn net.Conn
	dec  *msgpack.Decoder
}

func dialFluentKey(t *testing.T, addr, key string) *fluentSender {
	t.Helper()
	conn, dec := harness.FluentHandshake(t, addr, key, time.Minute)
	t.Cleanup(func() { conn.Close() })
	return &fluentSender{conn: conn, dec: dec}
}

// send sends one record and waits for its ack.
func (f *fluentSender) send(t *testing.T, tag string, record map[string]any, chunk string) {
	t.Helper()
	b, _ := msgpack.Marshal([]any{tag, time.Now().Unix(), record, map[string]any{"chunk": chunk}})
	if _, err := f.conn.Write(b); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := f.dec.Decode(&ack); err != nil || ack["ack"] != chunk {
		t.Fatalf("ack of %s: %v %v", chunk, ack, err)
	}
}

// A version pushed while the stack runs is accepted in dev on every
// surface — typed JSON over REST, Any over Connect, the map form, Fluent —
// and resolvable through ingest's server reflection, without a restart.
// The test prints how long after the push each surface first accepted it.
func TestPushedVersionReachesEverySurface(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	dir := harness.DataDir(t)
	s := harness.StartStack(t, platform.Config{
		DataDir:    dir,
		Services:   []string{platform.Registry, platform.Ingest},
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0", platform.IngestFluent: "127.0.0.1:0"},
		AdminToken: testAdminToken,
		Ingest:     ingest.Config{PIISecret: testPIISecret},
		// As `clickstream dev` runs it.
		DevAllowsNewVersions: true,
	})
	url, key := s.URL(platform.Ingest), s.IngestKey()
	if names, msg := reflectSymbol(t, url, tripV2); msg == "" {
		t.Fatalf("reflection resolves %s before it is pushed: %v", tripV2, names)
	}
	keys, err := os.ReadFile(filepath.Join(dir, platform.FluentKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	var sharedKey string
	for line := range strings.Lines(string(keys)) {
		if env, k, ok := strings.Cut(strings.TrimSpace(line), " "); ok && env == "dev" {
			sharedKey = k
		}
	}
	fluent := dialFluentKey(t, s.FluentAddr(), sharedKey)

	set, err := schema.Compile(context.Background(), harness.CatalogueWithV2(t, "clickstream/events/v1/navigation_trip_finished.proto", "NavigationTripFinished"))
	if err != nil {
		t.Fatal(err)
	}
	admin := registryv1connect.NewRegistryAdminServiceClient(harness.BearerClient(testAdminToken), s.URL(platform.Registry))
	pushed, err := admin.PushSchemas(context.Background(), &registryv1.PushSchemasRequest{FileDescriptorSet: set.FileDescriptorSet(), Author: "live-test", Message: "add NavigationTripFinishedV2"})
	if err != nil {
		t.Fatalf("push NavigationTripFinishedV2: %v", err)
	}
	at := time.Now()
	t.Logf("pushed: revision %d, added %v", pushed.GetRevision(), pushed.GetAdded())

	v1 := &eventsv1.NavigationTripFinishedV1{Context: &eventsv1.Context{UserId: "u-1"}, TripId: "t-1", DistanceM: 12500}
	payload, _ := proto.Marshal(v1)
	connectClient := ingestClient(url, key)
	attempt := 0
	surfaces := []struct {
		name string
		send func() (ingestv1.EventStatus, string)
	}{
		{"typed JSON over REST", func() (ingestv1.EventStatus, string) {
			body := fmt.Sprintf(`{"events":[{"idempotencyKey":"live-json-%d","typed":{"@type":"type.googleapis.com/%s","context":{"userId":"u-1"},"tripId":"t-1","distanceM":"12500"}}]}`, attempt, tripV2)
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/events:batch", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(ingest.APIKeyHeader, key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			out := &ingestv1.SendBatchResponse{}
			if resp.StatusCode != http.StatusOK || protojson.Unmarshal(data, out) != nil {
				return ingestv1.EventStatus_EVENT_STATUS_UNSPECIFIED, fmt.Sprintf("HTTP %d %s", resp.StatusCode, data)
			}
			return out.GetResults()[0].GetStatus(), out.GetResults()[0].GetRejection().GetReason().String()
		}},
		{"Any over Connect", func() (ingestv1.EventStatus, string) {
			ev := &ingestv1.Event{IdempotencyKey: fmt.Sprintf("live-any-%d", attempt), Payload: &ingestv1.Event_Typed{Typed: &anypb.Any{TypeUrl: "type.googleapis.com/" + tripV2, Value: payload}}}
			resp, err := connectClient.SendBatch(context.Background(), connect.NewRequest(&ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev}}).Msg)
			if err != nil {
				t.Fatal(err)
			}
			return resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetRejection().GetReason().String()
		}},
		{"map form", func() (ingestv1.EventStatus, string) {
			ev := &ingestv1.Event{IdempotencyKey: fmt.Sprintf("live-map-%d", attempt), Payload: &ingestv1.Event_Mobile{Mobile: &eventsv1.MobileAppEvent{
				EventId: 2004, Version: 2, Params: map[string]string{"context.user_id": "u-1", "trip_id": "t-1", "distance_m": "12500"}}}}
			resp, err := connectClient.SendBatch(context.Background(), &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{ev}})
			if err != nil {
				t.Fatal(err)
			}
			return resp.GetResults()[0].GetStatus(), resp.GetResults()[0].GetRejection().GetReason().String()
		}},
		{"Fluent", func() (ingestv1.EventStatus, string) {
			before := streamCount(t, s.Bus(), bus.StreamEvents, "events.dev.navigation_trip_finished.v2")
			fluent.send(t, "clickstream.navigation_trip_finished.v2", map[string]any{"context.user_id": "u-1", "trip_id": "t-1", "distance_m": 12500}, fmt.Sprintf("live-fluent-%d", attempt))
			if streamCount(t, s.Bus(), bus.StreamEvents, "events.dev.navigation_trip_finished.v2") > before {
				return ingestv1.EventStatus_EVENT_STATUS_ACCEPTED, ""
			}
			return ingestv1.EventStatus_EVENT_STATUS_REJECTED, "dead-lettered"
		}},
	}
	for _, sf := range surfaces {
		var last string
		for {
			attempt++
			status, why := sf.send()
			if status == ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
				t.Logf("%s: ACCEPTED %s after the push (attempt %d)", sf.name, time.Since(at).Round(time.Millisecond), attempt)
				break
			}
			last = status.String() + " " + why
			if time.Since(at) > 20*time.Second {
				t.Fatalf("%s: still %s 20s after the push", sf.name, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	names, msg := reflectSymbol(t, url, tripV2)
	t.Logf("reflection, %s after the push: %s in a file with %v", time.Since(at).Round(time.Millisecond), tripV2, names)
	found := false
	for _, n := range names {
		found = found || n == tripV2
	}
	if msg != "" || !found {
		t.Errorf("reflection on ingest does not resolve %s after the push: %q %v", tripV2, msg, names)
	}
}
