package platform_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
)

// start runs the whole platform in-process on free ports, as `clickstream
// dev` does, with its data in dir.
func start(t *testing.T, dir string) *harness.Stack {
	t.Helper()
	cfg := harness.DevConfig(dir, testAdminToken, testPIISecret)
	cfg.Ingest.PIIKeepEnvironments = []string{keepEnvironment}
	return harness.StartStack(t, cfg)
}

// adminClients are the registry and ingest admin APIs of s with the admin
// token.
func adminClients(s *harness.Stack) (registryv1connect.RegistryAdminServiceClient, ingestv1connect.IngestAdminServiceClient) {
	hc := harness.BearerClient(testAdminToken)
	return registryv1connect.NewRegistryAdminServiceClient(hc, s.URL(platform.Registry)), ingestv1connect.NewIngestAdminServiceClient(hc, s.URL(platform.Ingest))
}

func grpcConn(t *testing.T, baseURL string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// restJSON does one HTTP request with a JSON body and decodes the answer
// into out with protojson, failing the test on any status but want.
// userProgress reads a user's progress per achievement through the public
// REST API; none while awards has not counted an event of the user yet
// (the profile answers 404 until then).
func userProgress(t *testing.T, awardsURL, user string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(awardsURL + "/v1/users/" + user + "/achievements")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	progress := map[string]float64{}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return progress
	case http.StatusOK:
	default:
		t.Fatalf("GET %s's achievements: status %d: %s", user, resp.StatusCode, data)
	}
	var r awardsv1.ListUserAchievementsResponse
	if err := protojson.Unmarshal(data, &r); err != nil {
		t.Fatalf("GET %s's achievements: decode %s: %v", user, data, err)
	}
	for _, a := range r.GetAchievements() {
		progress[a.GetAchievement().GetId()] = a.GetProgress()
	}
	return progress
}

func restJSON(t *testing.T, method, url, body string, want int, out proto.Message) {
	t.Helper()
	restJSONAuth(t, "", method, url, body, want, out)
}

// restJSONAuth is restJSON with an API key as bearer token ("" for none).
func restJSONAuth(t *testing.T, key, method, url, body string, want int, out proto.Message) {
	t.Helper()
	status, data := harness.REST(t, key, method, url, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, status, want, data)
	}
	if out != nil {
		if err := protojson.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, data, err)
		}
	}
}

func eventNames(events []*registryv1.Event) []string {
	var names []string
	for _, e := range events {
		names = append(names, e.GetName())
	}
	return names
}

func TestDevStackServesEveryServiceThreeWays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS")
	}
	ctx := context.Background()
	s := start(t, harness.DataDir(t))

	t.Run("registry", func(t *testing.T) {
		url := s.URL(platform.Registry)
		g, err := registryv1.NewRegistryServiceClient(grpcConn(t, url)).ListEvents(ctx, &registryv1.ListEventsRequest{})
		if err != nil {
			t.Fatalf("grpc-go ListEvents: %v", err)
		}
		c, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, url).ListEvents(ctx, &registryv1.ListEventsRequest{})
		if err != nil {
			t.Fatalf("connect ListEvents: %v", err)
		}
		var r registryv1.ListEventsResponse
		restJSON(t, "GET", url+"/v1/events", "", http.StatusOK, &r)

		for _, want := range []string{"ItemView", "SearchQuery", "MessengerMessageSent", "Payment", "AdAuction",
			"PhotoStatusChanged", "ReviewStatusChanged", "DataFeedbackStatusChanged", "NavigationTripFinished",
			"PlaceCardOpened", "ExternalProjectEvent"} {
			if !slices.Contains(eventNames(g.GetEvents()), want) {
				t.Errorf("grpc-go ListEvents lacks %s: %v", want, eventNames(g.GetEvents()))
			}
		}
		if !proto.Equal(g, c) || !proto.Equal(g, &r) {
			t.Errorf("the three protocols disagree:\ngrpc:    %v\nconnect: %v\nrest:    %v", g, c, &r)
		}

		// An unknown event is NotFound on every path, 404 on REST.
		_, err = registryv1connect.NewRegistryServiceClient(http.DefaultClient, url).GetEvent(ctx, &registryv1.GetEventRequest{EventId: 999999})
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("connect GetEvent(999999): %v, want NotFound", err)
		}
		restJSON(t, "GET", url+"/v1/events/999999", "", http.StatusNotFound, nil)
		var one registryv1.GetEventResponse
		restJSON(t, "GET", url+"/v1/events/2001", "", http.StatusOK, &one)
		if got := len(one.GetEvent().GetVersions()); got != 2 {
			t.Errorf("PhotoStatusChanged has %d versions over REST, want 2", got)
		}
	})

	t.Run("ingest", func(t *testing.T) {
		url := s.URL(platform.Ingest)
		view := &eventsv1.ItemViewV2{Context: &eventsv1.Context{UserId: "u-42"}, ItemId: 7, Referrer: "search"}
		typed, err := anypb.New(view)
		if err != nil {
			t.Fatal(err)
		}
		batch := func(key string) *ingestv1.SendBatchRequest {
			return &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
				{IdempotencyKey: key, Payload: &ingestv1.Event_Typed{Typed: typed}},
				{IdempotencyKey: key + "-bad", Payload: &ingestv1.Event_Typed{Typed: &anypb.Any{TypeUrl: "type.googleapis.com/clickstream.events.v1.NoSuchEventV1"}}},
			}}
		}
		g, err := ingestv1.NewIngestServiceClient(grpcConn(t, url)).SendBatch(withKey(ctx, s.IngestKey()), batch("grpc-1"))
		if err != nil {
			t.Fatalf("grpc-go SendBatch: %v", err)
		}
		c, err := ingestClient(url, s.IngestKey()).SendBatch(ctx, batch("connect-1"))
		if err != nil {
			t.Fatalf("connect SendBatch: %v", err)
		}
		var r ingestv1.SendBatchResponse
		restJSONAuth(t, s.IngestKey(), "POST", url+"/v1/events:batch", `{"events":[
			{"idempotencyKey":"rest-1","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-42"},"itemId":"7","referrer":"search"}}},
			{"idempotencyKey":"rest-1-bad","json":{"name":"clickstream.events.v1.NoSuchEventV1","data":{}}}]}`, http.StatusOK, &r)
		for via, resp := range map[string]*ingestv1.SendBatchResponse{"grpc": g, "connect": c, "rest": &r} {
			if resp.GetAccepted() != 1 || resp.GetRejected() != 1 {
				t.Errorf("%s: accepted %d rejected %d, want 1 and 1: %v", via, resp.GetAccepted(), resp.GetRejected(), resp)
				continue
			}
			if got := resp.GetResults()[1].GetRejection().GetReason(); got != ingestv1.RejectReason_REJECT_REASON_UNKNOWN_EVENT {
				t.Errorf("%s: rejection %v, want UNKNOWN_EVENT", via, got)
			}
		}

		// Every accepted event is on the EVENTS stream as an EventRecord,
		// every rejected one in DEADLETTER.
		records := streamRecords(t, s.Bus(), bus.StreamEvents, "events.dev.item_view.v2")
		for _, id := range []string{"grpc-1", "connect-1", "rest-1"} {
			rec, ok := records[id]
			if !ok {
				t.Errorf("event %s is not on the EVENTS stream (have %v)", id, keys(records))
				continue
			}
			var got eventsv1.ItemViewV2
			if err := proto.Unmarshal(rec.GetPayload(), &got); err != nil || !proto.Equal(&got, view) {
				t.Errorf("event %s payload = %v (%v), want %v", id, &got, err, view)
			}
			if rec.GetUserId() != "u-42" || rec.GetEventId() != 1001 || rec.GetEventVersion() != 2 {
				t.Errorf("event %s record = %v", id, rec)
			}
		}
		if n := streamCount(t, s.Bus(), bus.StreamDeadLetter, "deadletter.>"); n != 3 {
			t.Errorf("DEADLETTER has %d messages, want the 3 rejected events", n)
		}
	})

	t.Run("awards", func(t *testing.T) {
		url := s.URL(platform.Awards)
		// u-42 sent only item views, which no objective counts: awards never
		// saw them, and every protocol says so with NotFound.
		req := &awardsv1.ListUserAchievementsRequest{UserId: "u-42"}
		_, err := awardsv1.NewAwardsServiceClient(grpcConn(t, url)).ListUserAchievements(ctx, req)
		if connect.Code(status.Code(err)) != connect.CodeNotFound {
			t.Errorf("grpc-go ListUserAchievements of a user never counted: %v, want NotFound", err)
		}
		_, err = awardsv1connect.NewAwardsServiceClient(http.DefaultClient, url, connect.WithGRPCWeb()).ListUserAchievements(ctx, req)
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("connect (gRPC-Web) ListUserAchievements of a user never counted: %v, want NotFound", err)
		}
		restJSON(t, "GET", url+"/v1/users/u-42/achievements", "", http.StatusNotFound, nil)
		g, err := awardsv1.NewAwardsServiceClient(grpcConn(t, url)).ListAchievements(ctx, &awardsv1.ListAchievementsRequest{})
		if err != nil {
			t.Fatalf("grpc-go ListAchievements: %v", err)
		}
		c, err := awardsv1connect.NewAwardsServiceClient(http.DefaultClient, url, connect.WithGRPCWeb()).ListAchievements(ctx, &awardsv1.ListAchievementsRequest{})
		if err != nil {
			t.Fatalf("connect (gRPC-Web) ListAchievements: %v", err)
		}
		var r awardsv1.ListAchievementsResponse
		restJSON(t, "GET", url+"/v1/achievements", "", http.StatusOK, &r)
		if len(g.GetAchievements()) == 0 {
			t.Fatal("no achievements: the demo achievements were not loaded")
		}
		if !proto.Equal(g, c) || !proto.Equal(g, &r) {
			t.Errorf("the three protocols disagree:\ngrpc:    %v\nconnect: %v\nrest:    %v", g, c, &r)
		}
		_, err = awardsv1connect.NewAwardsServiceClient(http.DefaultClient, url).ListUserAchievements(ctx, &awardsv1.ListUserAchievementsRequest{})
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("ListUserAchievements without user: %v, want InvalidArgument", err)
		}
	})

	t.Run("awards counts what ingest accepted", func(t *testing.T) {
		// Events go in through ingest; awards decodes them with schemas it
		// fetched from the registry over gRPC and applies the starter
		// achievements' objectives.
		resp, err := ingestClient(s.URL(platform.Ingest), s.IngestKey()).SendBatch(ctx, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{
			{IdempotencyKey: "awards-photo-1", Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{EventId: 2001, Version: 2,
				Data: mustStruct(t, `{"context":{"userId":"u-awards"},"photoId":"p-1","objectId":"cafe-1","status":"CONTENT_STATUS_ACTIVE"}`)}}},
			{IdempotencyKey: "awards-trip-1", Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{EventId: 2004, Version: 1,
				Data: mustStruct(t, `{"context":{"userId":"u-awards"},"tripId":"t-1","distanceM":"10000"}`)}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetAccepted() != 2 {
			t.Fatalf("ingest accepted %d of 2: %v", resp.GetAccepted(), resp.GetResults())
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			progress := userProgress(t, s.URL(platform.Awards), "u-awards")
			if progress["navigator-10km"] == 10 && progress["local-guide"] == 11 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("progress = %v, want navigator-10km 10 and local-guide 11 (1 photo + 10 km)", progress)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var metrics strings.Builder
		resp2, err := http.Get(s.URL(platform.Awards) + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		_, _ = io.Copy(&metrics, resp2.Body)
		if !strings.Contains(metrics.String(), `clickstream_awards_events_total{outcome="applied"}`) {
			t.Error("/metrics has no clickstream_awards_events_total")
		}
	})

	t.Run("health, readiness, reflection, metrics, openapi", func(t *testing.T) {
		for _, name := range platform.Services() {
			url := s.URL(name)
			for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi/clickstream.swagger.json"} {
				resp, err := http.Get(url + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s: %d %s", name, path, resp.StatusCode, body)
				}
				if path == "/metrics" && !bytes.Contains(body, []byte("clickstream_http_requests_total")) {
					t.Errorf("%s /metrics lacks clickstream_http_requests_total", name)
				}
			}
			conn := grpcConn(t, url)
			h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s gRPC health: %v %v", name, h, err)
			}
			services := reflectedServices(t, conn)
			want := "clickstream." + name + ".v1." + strings.ToUpper(name[:1]) + name[1:] + "Service"
			if !slices.Contains(services, want) {
				t.Errorf("%s reflection lists %v, want %s", name, services, want)
			}
		}
	})
}

func TestDevStackKeepsDataAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS twice")
	}
	ctx := context.Background()
	dir := harness.DataDir(t)
	send := func(s *harness.Stack) *ingestv1.SendBatchResponse {
		t.Helper()
		resp, err := ingestClient(s.URL(platform.Ingest), s.IngestKey()).SendBatch(ctx, &ingestv1.SendBatchRequest{
			Events: []*ingestv1.Event{{IdempotencyKey: "restart-1", Payload: &ingestv1.Event_Json{Json: &ingestv1.JsonEvent{
				EventId: 2005, Version: 1, Data: mustStruct(t, `{"context":{"userId":"u-1"},"objectId":"o-1"}`),
			}}}},
		})
		if err != nil {
			t.Fatalf("SendBatch: %v", err)
		}
		return resp
	}
	revision := func(s *harness.Stack) uint64 {
		t.Helper()
		resp, err := registryv1connect.NewRegistryServiceClient(http.DefaultClient, s.URL(platform.Registry)).ListEvents(ctx, &registryv1.ListEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetRevision()
	}

	first := start(t, dir)
	if got := send(first).GetResults()[0].GetStatus(); got != ingestv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("first send: %v, want ACCEPTED", got)
	}
	rev := revision(first)
	first.Shutdown()

	second := start(t, dir)
	if got := send(second).GetResults()[0].GetStatus(); got != ingestv1.EventStatus_EVENT_STATUS_DUPLICATE {
		t.Errorf("send after restart: %v, want DUPLICATE (the bus lost its state)", got)
	}
	if got := revision(second); got != rev || got == 0 {
		t.Errorf("catalogue revision after restart = %d, want %d (nothing new to register)", got, rev)
	}
	if n := streamCount(t, second.Bus(), bus.StreamEvents, "events.dev.place_card_opened.v1"); n != 1 {
		t.Errorf("EVENTS holds %d PlaceCardOpened records after restart, want 1", n)
	}
}

func TestDevStackWithoutPostgresBinariesSaysWhatToInstall(t *testing.T) {
	t.Setenv("CLICKSTREAM_PG_BIN", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := platform.Start(context.Background(), platform.Config{DataDir: harness.DataDir(t)})
	if err == nil {
		t.Fatal("started without PostgreSQL binaries")
	}
	if !strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("error does not say what to do: %v", err)
	}
}

func mustStruct(t *testing.T, js string) *structpb.Struct {
	t.Helper()
	var s structpb.Struct
	if err := protojson.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func reflectedServices(t *testing.T, conn *grpc.ClientConn) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatalf("reflection: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

// streamRecords reads every EventRecord on subject, by id.
func streamRecords(t *testing.T, b *bus.Bus, stream, subject string) map[string]*busv1.EventRecord {
	t.Helper()
	out := map[string]*busv1.EventRecord{}
	for _, data := range streamData(t, b, stream, subject) {
		var rec busv1.EventRecord
		if err := proto.Unmarshal(data, &rec); err != nil {
			t.Fatalf("decode EventRecord: %v", err)
		}
		out[rec.GetId()] = &rec
	}
	return out
}

func streamCount(t *testing.T, b *bus.Bus, stream, subject string) int {
	return len(streamData(t, b, stream, subject))
}

// streamData reads the messages on subject with an ordered consumer.
func streamData(t *testing.T, b *bus.Bus, stream, subject string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out [][]byte
	if err := harness.ReadStream(ctx, b.JetStream(), stream, subject, func(m jetstream.Msg) { out = append(out, m.Data()) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
