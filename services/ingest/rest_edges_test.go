package ingest_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// The REST gateway takes a gzip body (inflated within the batch limit) and
// answers 415 to another Content-Encoding or a body that is not JSON,
// naming what it got, before reading it.
func TestRESTBodyEncodingsAndTypes(t *testing.T) {
	svc, b := newService(t, ingest.Config{MaxBatchBytes: 64 << 10})
	url := serveIngest(t, ingest.Routes(ingest.RoutesConfig{}, svc, ingest.NewAdmin(svc))) + "/v1/events:batch"
	batch := func(key string) string {
		return `{"events":[{"idempotencyKey":"` + key + `","typed":{` + tripV1 + `,` + tripContext + `,"tripId":"t","distanceM":"3"}}]}`
	}
	gz := func(s string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return buf.Bytes()
	}
	post := func(body []byte, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}

	status, body := post(gz(batch("gz-1")), "Content-Type", "application/json", "Content-Encoding", "gzip")
	t.Logf("gzip batch: HTTP %d %s", status, body)
	out := &ingestv1.SendBatchResponse{}
	if status != http.StatusOK || protojson.Unmarshal([]byte(body), out) != nil || out.GetAccepted() != 1 {
		t.Errorf("gzip batch: HTTP %d %s, want 200 with the event accepted", status, body)
	}

	// A gzip body inflating past the batch limit is refused.
	big := `{"events":[{"json":{"name":"x","data":{"referrer":"` + strings.Repeat("a", 256<<10) + `"}}}]}`
	status, body = post(gz(big), "Content-Type", "application/json", "Content-Encoding", "gzip")
	t.Logf("gzip over the limit: HTTP %d %s", status, body)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "65536") {
		t.Errorf("gzip over the limit: HTTP %d %s, want 413 naming the limit", status, body)
	}
	status, body = post([]byte("not gzip"), "Content-Type", "application/json", "Content-Encoding", "gzip")
	if status != http.StatusBadRequest || !strings.Contains(body, "not gzip") {
		t.Errorf("a body that is not gzip: HTTP %d %s, want 400 saying so", status, body)
	}

	for _, tc := range []struct{ header, value, named string }{
		{"Content-Encoding", "br", `Content-Encoding \"br\"`},
		{"Content-Encoding", "deflate", `Content-Encoding \"deflate\"`},
		{"Content-Type", "text/plain", `beacon`},
		{"Content-Type", "application/xml", `Content-Type \"application/xml\"`},
		{"Content-Type", "multipart/form-data; boundary=x", `Content-Type \"multipart/form-data\"`},
	} {
		header := []string{"Content-Type", "application/json", tc.header, tc.value}
		status, body := post([]byte(batch("refused")), header...)
		t.Logf("%s: %s: HTTP %d %s", tc.header, tc.value, status, body)
		if status != http.StatusUnsupportedMediaType || !strings.Contains(body, tc.named) {
			t.Errorf("%s: %s: HTTP %d %s, want 415 naming %s", tc.header, tc.value, status, body, tc.named)
		}
	}
	// JSON under its other names, and curl's default for -d.
	for i, ct := range []string{"application/json; charset=utf-8", "application/vnd.api+json", "application/x-www-form-urlencoded"} {
		status, body := post([]byte(batch("ct-"+string(rune('a'+i)))), "Content-Type", ct)
		if status != http.StatusOK {
			t.Errorf("Content-Type %s: HTTP %d %s, want 200", ct, status, body)
		}
	}
	if n := len(storedMsgs(t, b, "EVENTS")); n != 4 {
		t.Errorf("EVENTS holds %d events, want 4 (the gzip one and three JSON types)", n)
	}
}
