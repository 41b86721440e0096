package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// postgresError is what PostgreSQL (through pgx) makes of a NUL byte or
// invalid UTF-8 in a text parameter.
const postgresError = `ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`

// storeLike fails the way a PostgreSQL-backed store does on text it cannot
// take, wrapped as services wrap store errors.
func storeLike(op, text string) error {
	if strings.ContainsRune(text, 0) || !utf8.ValidString(text) {
		return fmt.Errorf("%s: %w", op, errors.New(postgresError))
	}
	return nil
}

func (d *registryDouble) ListEvents(_ context.Context, req *registryv1.ListEventsRequest) (*registryv1.ListEventsResponse, error) {
	if err := storeLike("list events", req.GetText()); err != nil {
		return nil, err
	}
	return &registryv1.ListEventsResponse{}, nil
}

func (d *registryDouble) GetEnvironment(ctx context.Context, req *registryv1.GetEnvironmentRequest) (*registryv1.GetEnvironmentResponse, error) {
	if d.getEnvironment != nil {
		return d.getEnvironment(ctx, req)
	}
	if err := storeLike("get environment "+req.GetName(), req.GetName()); err != nil {
		return nil, err
	}
	return &registryv1.GetEnvironmentResponse{Environment: &registryv1.Environment{Name: req.GetName()}}, nil
}

// gatewayError is the JSON body of an error, as the REST gateway answers.
type gatewayError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

func TestBadInputIsRejectedAtTheEdge(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		url     string
		message string
	}{
		{"/v1/events?text=%00", `query parameter "text": contains a NUL byte`},
		{"/v1/events?text=abc%00def", `query parameter "text": contains a NUL byte`},
		{"/v1/events?text=%ff%fe", `query parameter "text": is not valid UTF-8`},
		{"/v1/events?text=%c0%af", `query parameter "text": is not valid UTF-8`},    // over-long encoding of '/'
		{"/v1/events?text=%ed%a0%80", `query parameter "text": is not valid UTF-8`}, // a UTF-16 surrogate
		{"/v1/events?text=line%0Abreak", `query parameter "text": contains the control character U+000A`},
		{"/v1/events?text=%1B%5B31m", `query parameter "text": contains the control character U+001B`},
		{"/v1/events?owner_team=web&text=ok&status=%00", `query parameter "status": contains a NUL byte`},
		{"/v1/events?text=ok&text=%00", `query parameter "text": contains a NUL byte`},
		{"/v1/events?%00=1", `query parameter name "\x00": contains a NUL byte`},
		{"/v1/events?te%ffxt=1", `query parameter name "te\xffxt": is not valid UTF-8`},
		{"/v1/events?text=" + long(4097), `query parameter "text": value longer than 4096 bytes`},
		{"/v1/events?" + long(300) + "=1", `query parameter name "` + long(64) + `"…: longer than 256 bytes`},
		// REST routes name the path parameter...
		{"/v1/environments/%00", `path parameter "name": contains a NUL byte`},
		{"/v1/environments/%ff%fe", `path parameter "name": is not valid UTF-8`},
		{"/v1/environments/web%09", `path parameter "name": contains the control character U+0009`},
		{"/v1/environments/" + long(2049), `path parameter "name": longer than 2048 bytes`},
		{"/v1/environments/" + long(2040), `path: longer than 2048 bytes`}, // the parameter alone is not
		{"/v1/events/%00", `path parameter "event_id": contains a NUL byte`},
		{"/v1/events/7/versions/%ff", `path parameter "version": is not valid UTF-8`},
		{"/v1/environments/%00?text=%01", `query parameter "text": contains the control character U+0001`},
		// ... other paths the path as a whole.
		{"/v1/users/%00/achievements", `path: contains a NUL byte`}, // no such route: rejected all the same
		{"/v1/" + long(2048), `path: longer than 2048 bytes`},
		{"/docs/" + long(2048), `path: longer than 2048 bytes`},
		{"/" + registryv1connect.RegistryServiceName + "/%00", `path: contains a NUL byte`},
		{"/healthz?probe=%00", `query parameter "probe": contains a NUL byte`},
		{"/openapi/%c0%af", `path: is not valid UTF-8`},
	}
	srv := start(t, Config{}, (&registryDouble{}).routes())
	client := http1Client(t)
	for _, tc := range tests {
		name := tc.url
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, client, srv.URL()+tc.url)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400 (body %s)", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if strings.Contains(string(body), "SQLSTATE") {
				t.Errorf("body shows the database's error: %s", body)
			}
			if len(body) > 512 {
				t.Errorf("body of %d bytes, want the value left out: %.200s…", len(body), body)
			}
			var got gatewayError
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s is not JSON: %v", body, err)
			}
			if got.Code != int(connect.CodeInvalidArgument) || got.Message != tc.message {
				t.Errorf("error = code %d %q, want code 3 %q", got.Code, got.Message, tc.message)
			}
			if got.Details == nil {
				t.Error(`no "details" in the body; want [] as the gateway answers`)
			}
		})
	}

	// Input that is fine passes, however unusual.
	for _, url := range []string{
		"/v1/events?text=caf%C3%A9",
		"/v1/events?text=a+b%20%E2%9C%93%F0%9F%98%80",
		"/v1/events?text=",
		"/v1/events?text=" + long(4096),
		"/v1/environments/partner-tickets",
		"/v1/environments/%E6%9D%B1%E4%BA%AC",
	} {
		if resp, body := get(t, client, srv.URL()+url); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %.80s = %d %s, want 200", url, resp.StatusCode, body)
		}
	}
}

// RPC clients get a rejection in their own protocol.
func TestBadInputIsRejectedInEveryProtocol(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	procedure := srv.URL() + registryv1connect.RegistryServiceListEventsProcedure

	t.Run("connect", func(t *testing.T) {
		req, err := http.NewRequestWithContext(callContext(t), http.MethodPost, procedure+"?trace=%00", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connect-Protocol-Version", "1")
		resp, err := http1Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct{ Code, Message string }
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		want := `query parameter "trace": contains a NUL byte`
		if resp.StatusCode != http.StatusBadRequest || got.Code != "invalid_argument" || got.Message != want {
			t.Errorf("got %d %+v, want 400 invalid_argument %q", resp.StatusCode, got, want)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		req, err := http.NewRequestWithContext(callContext(t), http.MethodPost, procedure+"%ff", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		resp, err := h2cClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		if got := resp.Trailer.Get("Grpc-Status"); resp.StatusCode != http.StatusOK || got != "3" ||
			!strings.Contains(resp.Trailer.Get("Grpc-Message"), "path") {
			t.Errorf("%d, grpc-status %q, grpc-message %q; want 200, 3 naming the path", resp.StatusCode, got, resp.Trailer.Get("Grpc-Message"))
		}
	})
}

// withRequestID sets the request id header on every request.
type withRequestID struct {
	id   string
	base http.RoundTripper
}

func (w withRequestID) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(RequestIDHeader, w.id)
	return w.base.RoundTrip(r)
}

// Input the edge cannot see (a request body) may still upset PostgreSQL;
// its error text must not reach the client on any protocol, while the
// request log keeps it.
func TestDatabaseErrorsAreWithheld(t *testing.T) {
	failures := map[string]error{
		"plain":            fmt.Errorf("get environment: %w", errors.New(postgresError)),
		"connect internal": connect.NewError(connect.CodeInternal, errors.New(postgresError)),
		"wrapped connect":  fmt.Errorf("get environment: %w", connectError(connect.CodeInternal, postgresError)),
	}
	double := &registryDouble{getEnvironment: func(_ context.Context, req *registryv1.GetEnvironmentRequest) (*registryv1.GetEnvironmentResponse, error) {
		return nil, failures[req.GetName()]
	}}
	var logs syncBuffer
	srv := start(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, double.routes())

	type outcome struct {
		code    connect.Code
		message string
		details int
	}
	protocols := map[string]func(ctx context.Context, id, name string) outcome{
		"rest": func(ctx context.Context, id, name string) outcome {
			resp, body := get(t, http1Client(t), srv.URL()+"/v1/environments/"+strings.ReplaceAll(name, " ", "%20"), RequestIDHeader, id)
			var got gatewayError
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("REST: %d %s (%v), want a 500 JSON error", resp.StatusCode, body, err)
			}
			return outcome{connect.Code(got.Code), got.Message, len(got.Details)}
		},
		"grpc (grpc-go)": func(ctx context.Context, id, name string) outcome {
			ctx = metadata.AppendToOutgoingContext(ctx, RequestIDHeader, id)
			_, err := registryv1.NewRegistryServiceClient(grpcConn(t, srv)).GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: name})
			st := status.Convert(err)
			return outcome{connect.Code(st.Code()), st.Message(), len(st.Details())}
		},
	}
	for name, opts := range map[string][]connect.ClientOption{"connect": nil, "grpc-web": {connect.WithGRPCWeb()}, "grpc (connect-go)": {connect.WithGRPC()}} {
		protocols[name] = func(ctx context.Context, id, env string) outcome {
			client := h2cClient(t)
			client.Transport = withRequestID{id, client.Transport}
			_, err := registryv1connect.NewRegistryServiceClient(client, srv.URL(), opts...).
				GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: env})
			var cerr *connect.Error
			if !errors.As(err, &cerr) {
				return outcome{connect.CodeOf(err), fmt.Sprint(err), 0}
			}
			return outcome{cerr.Code(), cerr.Message(), len(cerr.Details())}
		}
	}

	n := 0
	for failure, err := range failures {
		for protocol, call := range protocols {
			n++
			id := fmt.Sprintf("db-%d", n)
			t.Run(failure+"/"+protocol, func(t *testing.T) {
				got := call(callContext(t), id, failure)
				want := outcome{connect.CodeOf(err), "internal error (request id " + id + ")", 0}
				if got != want {
					t.Errorf("error = %+v, want %+v", got, want)
				}
			})
		}
	}

	// Each withheld error is in the log, once, on its request's line.
	for line := range strings.Lines(logs.String()) {
		var entry struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Error     string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		if !strings.HasPrefix(entry.RequestID, "db-") {
			continue
		}
		n--
		if entry.Level != "ERROR" || !strings.Contains(entry.Error, "SQLSTATE 22021") {
			t.Errorf("request %s logged at %s with error %q, want ERROR with the database's text", entry.RequestID, entry.Level, entry.Error)
		}
	}
	if n != 0 {
		t.Errorf("%d requests more than were logged", n)
	}
}

// Text that a store would choke on but the edge cannot see, in a request
// body, ends as an internal error with a request id: never the database's
// text.
func TestBodyInputThatReachesTheStore(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	_, err := registryv1connect.NewRegistryServiceClient(http1Client(t), srv.URL()).
		GetEnvironment(callContext(t), &registryv1.GetEnvironmentRequest{Name: "web\x00"})
	if connect.CodeOf(err) != connect.CodeUnknown || strings.Contains(err.Error(), "SQLSTATE") ||
		!strings.Contains(err.Error(), "internal error (request id ") {
		t.Errorf("GetEnvironment(%q) = %v, want Unknown, internal error with a request id", "web\x00", err)
	}
}

// FuzzCheckURL: whatever a client sends, what passes the edge is valid
// UTF-8 without control characters and within the bounds, and a rejection
// stays short whatever it rejects.
func FuzzCheckURL(f *testing.F) {
	for _, seed := range [][2]string{
		{"/v1/events", "text=caf%C3%A9"},
		{"/v1/environments/\x00", ""},
		{"/v1/environments/\xff\xfe", "text=%00"},
		{"/v1/events", "%ff=1&text=%zz&a=b;c"},
		{"/", strings.Repeat("a", 300) + "=" + strings.Repeat("%00", 100)},
	} {
		f.Add(seed[0], seed[1])
	}
	valid := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 })
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		if problem := checkPath(path); problem != "" {
			if len(problem) > 128 {
				t.Errorf("checkPath(%q) = %q: too long", path, problem)
			}
		} else if !valid(path) || len(path) > maxPathBytes {
			t.Errorf("checkPath(%q) passed", path)
		}
		problem := checkQuery(rawQuery)
		// At worst a name quoted with every byte escaped.
		if len(problem) > 1024 {
			t.Errorf("checkQuery(%q) = %q: too long", rawQuery, problem)
		}
		if problem != "" {
			return
		}
		query, _ := url.ParseQuery(rawQuery)
		for name, values := range query {
			if !valid(name) || len(name) > maxQueryNameBytes {
				t.Errorf("checkQuery(%q) passed name %q", rawQuery, name)
			}
			for _, v := range values {
				if !valid(v) || len(v) > maxQueryValueBytes {
					t.Errorf("checkQuery(%q) passed %s=%q", rawQuery, name, v)
				}
			}
		}
	})
}

// TestUnreachableDatabaseIsUnavailable: while PostgreSQL cannot be reached
// (down, or a failover in progress) a call answers Unavailable (503 on
// REST), which clients retry, and never the database's user and address.
func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// A real pgx connection failure: nothing listens on port 1.
	_, dial := pgconn.Connect(ctx, "postgres://postgres@127.0.0.1:1/clickstream?connect_timeout=5")
	if dial == nil || !strings.Contains(dial.Error(), "failed to connect to `user=postgres") {
		t.Fatalf("connecting to a closed port gave %v, want pgx's connect error", dial)
	}
	double := &registryDouble{getEnvironment: func(context.Context, *registryv1.GetEnvironmentRequest) (*registryv1.GetEnvironmentResponse, error) {
		return nil, fmt.Errorf("get environment web: %w", dial)
	}}
	srv := start(t, Config{}, double.routes())

	resp, body := get(t, http1Client(t), srv.URL()+"/v1/environments/web")
	var got gatewayError
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || got.Code != int(connect.CodeUnavailable) ||
		!strings.HasPrefix(got.Message, "the database is unavailable; retry later (request id ") {
		t.Errorf("REST: %d %s, want 503, code 14, the database is unavailable with a request id", resp.StatusCode, body)
	}
	_, err := registryv1connect.NewRegistryServiceClient(http1Client(t), srv.URL()).
		GetEnvironment(callContext(t), &registryv1.GetEnvironmentRequest{Name: "web"})
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("Connect: %v, want Unavailable", err)
	}
	for _, text := range []string{string(body), fmt.Sprint(err)} {
		if strings.Contains(text, "user=") || strings.Contains(text, "127.0.0.1:1") {
			t.Errorf("a reply names the database's user or address: %s", text)
		}
	}
}
