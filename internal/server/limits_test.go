package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"connectrpc.com/connect"
	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// gzipBomb is a gzip stream that inflates to n bytes of zeros (n a multiple
// of 1 MiB): one member of 1 MiB, about a kilobyte, repeated, so a bomb of
// a gibibyte costs the test a megabyte.
func gzipBomb(t testing.TB, n int64) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.Repeat(member.Bytes(), int(n>>20))
}

// grpcFrame is one gRPC message frame: the compressed flag, the length and
// the message.
func grpcFrame(compressed bool, msg []byte) []byte {
	frame := make([]byte, 5, 5+len(msg))
	if compressed {
		frame[0] = 1
	}
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

// allocatedDuring is how many bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// grpcCode is the grpc-status of a gRPC answer, from its trailers or, for a
// trailers-only answer, its headers.
func grpcCode(resp *http.Response) string {
	if c := resp.Trailer.Get("Grpc-Status"); c != "" {
		return c
	}
	return resp.Header.Get("Grpc-Status")
}

// A gzip bomb inflating to 1 GiB is refused with ResourceExhausted by every
// Connect handler (the service's, health and reflection) on gRPC and the
// Connect protocol, and the server stops inflating it early: the whole
// exchange allocates a few megabytes, not a gibibyte.
func TestGzipBombsAreRefused(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())
	bomb := gzipBomb(t, 1<<30)
	client := h2cClient(t)
	const budget = 48 << 20
	cases := []struct {
		name, path, contentType string
		header                  map[string]string
		body                    []byte
		grpc                    bool
	}{
		{name: "connect unary", path: "/" + registryv1connect.RegistryServiceName + "/GetEvent", contentType: "application/proto",
			header: map[string]string{"Connect-Protocol-Version": "1", "Content-Encoding": "gzip"}, body: bomb},
		{name: "connect json", path: "/" + registryv1connect.RegistryServiceName + "/ListEvents", contentType: "application/json",
			header: map[string]string{"Connect-Protocol-Version": "1", "Content-Encoding": "gzip"}, body: bomb},
		{name: "grpc service", path: "/" + registryv1connect.RegistryServiceName + "/GetEvent", contentType: "application/grpc",
			header: map[string]string{"Grpc-Encoding": "gzip", "Te": "trailers"}, body: grpcFrame(true, bomb), grpc: true},
		{name: "grpc health", path: "/grpc.health.v1.Health/Check", contentType: "application/grpc",
			header: map[string]string{"Grpc-Encoding": "gzip", "Te": "trailers"}, body: grpcFrame(true, bomb), grpc: true},
		{name: "grpc reflection", path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", contentType: "application/grpc",
			header: map[string]string{"Grpc-Encoding": "gzip", "Te": "trailers"}, body: grpcFrame(true, bomb), grpc: true},
		{name: "grpc-web", path: "/" + registryv1connect.RegistryServiceName + "/GetEvent", contentType: "application/grpc-web+proto",
			header: map[string]string{"Grpc-Encoding": "gzip"}, body: grpcFrame(true, bomb), grpc: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var status int
			var code string
			var body []byte
			runtime.GC()
			allocated := allocatedDuring(func() {
				req, _ := http.NewRequestWithContext(callContext(t), http.MethodPost, srv.URL()+c.path, bytes.NewReader(c.body))
				req.Header.Set("Content-Type", c.contentType)
				for k, v := range c.header {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
				if c.grpc {
					code = grpcCode(resp)
					if code == "" && strings.HasPrefix(c.contentType, "application/grpc-web") {
						// gRPC-Web sends its trailers in the body.
						if i := bytes.Index(body, []byte("grpc-status:")); i >= 0 {
							code = strings.TrimSpace(strings.SplitN(string(body[i+len("grpc-status:"):]), "\r\n", 2)[0])
						}
					}
				} else {
					var e struct{ Code string }
					_ = json.Unmarshal(body, &e)
					code = e.Code
				}
			})
			t.Logf("%s: %d compressed bytes inflating to 1 GiB: HTTP %d, code %s, %.1f MiB allocated", c.name, len(c.body), status, code, float64(allocated)/(1<<20))
			want := "resource_exhausted"
			if c.grpc {
				want = fmt.Sprint(int(connect.CodeResourceExhausted))
			}
			if code != want {
				t.Errorf("code %q, want %q (HTTP %d): %.300s", code, want, status, body)
			}
			if allocated > budget {
				t.Errorf("allocated %d bytes serving the bomb, want under %d", allocated, budget)
			}
		})
	}
}

// A body over the limit is refused on every protocol: a declared length at
// once without reading it (413 on REST, ResourceExhausted on Connect), a
// chunked one once the limit is read (413 on REST); a route class with a
// larger bound takes what the others refuse.
func TestOversizedBodiesAreRefused(t *testing.T) {
	const limit = 64 << 10
	d := &registryDouble{}
	routes := d.routes()
	// GetSchemaSet is a class of its own with four times the bound.
	routes.Bodies = []BodyLimit{{Prefixes: []string{"/" + registryv1connect.RegistryServiceName + "/GetSchemaSet"}, MaxBytes: 4 * limit}}
	// The admin API's REST routes take bodies.
	gateway := routes.Gateway
	routes.Gateway = func(ctx context.Context, mux *gwruntime.ServeMux) error {
		if err := gateway(ctx, mux); err != nil {
			return err
		}
		return registryv1.RegisterRegistryAdminServiceHandlerServer(ctx, mux, registryv1.UnimplementedRegistryAdminServiceServer{})
	}
	srv := start(t, Config{Limits: Limits{MaxRequestBytes: limit}}, routes)
	client := h2cClient(t)
	big := `{"author":"` + strings.Repeat("a", 2*limit) + `"}`

	post := func(path, contentType string, body io.Reader, length int64, header ...string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(callContext(t), http.MethodPost, srv.URL()+path, body)
		req.ContentLength = length
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}

	// A declared length of a gibibyte is answered without sending any of
	// it: the reader would block the test if the server waited for it.
	blocked, unblock := io.Pipe()
	defer unblock.Close()
	status, data := post("/v1/admin/schemas:push", "application/json", blocked, 1<<30)
	t.Logf("REST, declared 1 GiB: HTTP %d %s", status, data)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "the limit is 65536 bytes") {
		t.Errorf("REST with a declared 1 GiB body: HTTP %d %s, want 413 naming the limit", status, data)
	}

	// Chunked (no declared length) REST body over the limit.
	status, data = post("/v1/admin/schemas:push", "application/json", io.MultiReader(strings.NewReader(big)), -1)
	t.Logf("REST, chunked %d bytes: HTTP %d %s", len(big), status, data)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), `"code":8`) {
		t.Errorf("REST with a chunked body over the limit: HTTP %d %s, want 413 with code 8", status, data)
	}

	// A gzip REST body is inflated only up to the route's limit: a bomb
	// is answered 413.
	var jsonBomb bytes.Buffer
	zw := gzip.NewWriter(&jsonBomb)
	_, _ = zw.Write([]byte(big))
	_ = zw.Close()
	status, data = post("/v1/admin/schemas:push", "application/json", bytes.NewReader(jsonBomb.Bytes()), -1, "Content-Encoding", "gzip")
	t.Logf("REST, gzip bomb: HTTP %d %s", status, data)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "the limit is 65536 bytes") {
		t.Errorf("REST with a gzip bomb: HTTP %d %s, want 413 naming the limit", status, data)
	}

	// Connect client over the limit, and the larger class taking the same.
	rc := registryv1connect.NewRegistryServiceClient(client, srv.URL())
	_, err := rc.ListEvents(callContext(t), &registryv1.ListEventsRequest{Text: strings.Repeat("a", 2*limit)})
	t.Logf("Connect ListEvents, %d bytes: %v", 2*limit, err)
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("Connect ListEvents over the limit: %v, want ResourceExhausted", err)
	}
	grpcClient := registryv1connect.NewRegistryServiceClient(client, srv.URL(), connect.WithGRPC())
	_, err = grpcClient.ListEvents(callContext(t), &registryv1.ListEventsRequest{Text: strings.Repeat("a", 2*limit)})
	t.Logf("gRPC ListEvents, %d bytes: %v", 2*limit, err)
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("gRPC ListEvents over the limit: %v, want ResourceExhausted", err)
	}
	_, err = rc.GetSchemaSet(callContext(t), &registryv1.GetSchemaSetRequest{Environment: strings.Repeat("a", 2*limit)})
	t.Logf("Connect GetSchemaSet (class of %d bytes), %d bytes: %v", 4*limit, 2*limit, err)
	if connect.CodeOf(err) == connect.CodeResourceExhausted || !strings.Contains(fmt.Sprint(err), "not implemented") {
		t.Errorf("GetSchemaSet, in a class bounded at %d bytes, with %d bytes: %v, want the handler's answer (not implemented)", 4*limit, 2*limit, err)
	}
}

// The bounded gzip reads what it is given whole when it is within bounds,
// over several members, and refuses past the limit or the ratio.
func TestBoundedGzip(t *testing.T) {
	compress := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	text := []byte(strings.Repeat("clickstream ", 1000))
	twice := append(compress(text), compress(text)...)
	cases := []struct {
		name    string
		in      []byte
		limit   int64
		ratio   int
		wantErr bool
	}{
		{"within bounds", twice, 1 << 20, 100, false},
		{"over the limit", gzipBomb(t, 8<<20), 4 << 20, -1, true},
		{"over the ratio", gzipBomb(t, 8<<20), 1 << 30, 100, true},
		{"ratio off", gzipBomb(t, 8<<20), 1 << 30, -1, false},
	}
	for _, c := range cases {
		g := &boundedGzip{limit: c.limit, ratio: c.ratio}
		if err := g.Reset(bytes.NewReader(c.in)); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, g)
		t.Logf("%s: %d bytes inflated, err %v", c.name, n, err)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err %v, want error %v", c.name, err, c.wantErr)
		}
		if err != nil && (connect.CodeOf(err) != connect.CodeResourceExhausted || n > c.limit+1 || n > 2<<20 && c.ratio > 0) {
			t.Errorf("%s: %d bytes out before %v; want ResourceExhausted at the limit or soon after the ratio's floor", c.name, n, err)
		}
		if !c.wantErr && c.name == "within bounds" && n != int64(2*len(text)) {
			t.Errorf("%s: %d bytes out, want %d", c.name, n, 2*len(text))
		}
	}
}

// FuzzBoundedGzip: whatever it is given, the bounded gzip never hands on
// more than one byte past its limit, and stops early on bombs. Seeded with
// bombs of single and many members and with broken streams.
func FuzzBoundedGzip(f *testing.F) {
	var one bytes.Buffer
	zw := gzip.NewWriter(&one)
	_, _ = zw.Write([]byte("clickstream"))
	_ = zw.Close()
	f.Add(one.Bytes())
	f.Add(gzipBomb(f, 4<<20))
	f.Add(append(one.Bytes(), gzipBomb(f, 2<<20)...))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte{})
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &boundedGzip{limit: limit, ratio: DefaultMaxDecompressionRatio}
		if err := g.Reset(bytes.NewReader(data)); err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, g)
		if n > limit+1 {
			t.Fatalf("%d bytes inflated past the limit of %d", n, limit)
		}
	})
}
