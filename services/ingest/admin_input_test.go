package ingest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

const adminToken = "admin-token-for-tests"

// emptyWarehouse is an HourlyCounter with nothing stored.
type emptyWarehouse struct{}

func (emptyWarehouse) HourlyCounts(context.Context, ingest.HourlyQuery) ([]ingest.HourlyCount, error) {
	return nil, nil
}

// serveAdmin serves ingest with keys in store, a real bus and an empty
// warehouse, and returns its URL.
func serveAdmin(t testing.TB, store ingest.KeyStore) string {
	t.Helper()
	svc := ingest.New(ingest.Config{Environment: env}, realCatalogue(t), bustest.New(t))
	svc.SetKeys(ingest.NewKeys(store))
	admin := ingest.NewAdmin(svc)
	admin.SetReports(ingest.NewReports(emptyWarehouse{}))
	return serveIngest(t, ingest.Routes(ingest.RoutesConfig{AdminToken: adminToken}, svc, admin))
}

// adminCall sends one admin request over REST and returns the status and
// the error message, if any.
func adminCall(t testing.TB, base, method, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+target, strings.NewReader(body))
	if err != nil {
		// Not a request a client can send (Go refuses to build it).
		return http.StatusBadRequest, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %.200s: %v", method, target, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct{ Message string }
	_ = json.Unmarshal(data, &e)
	if e.Message == "" {
		e.Message = string(data)
	}
	return resp.StatusCode, e.Message
}

// Every admin route with malformed parameters and bodies: each is a 400
// naming what is wrong (never a 5xx from PostgreSQL or the bus), with an
// answer that does not echo the whole input.
func TestAdminInputProbe(t *testing.T) {
	pool, err := postgres.Open(t.Context(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	base := serveAdmin(t, ingest.NewPostgresStore(pool))
	long := strings.Repeat("w", 100<<10)
	tests := []struct {
		method, target, body string
		want                 string // in the message
	}{
		{"GET", "/v1/admin/keys?environment=%00", "", "environment"},
		{"GET", "/v1/admin/keys?environment=%ff", "", "environment"},
		{"GET", "/v1/admin/keys?environment=" + long, "", "environment"},
		{"GET", "/v1/admin/keys?environment=Web", "", "environment"},
		{"GET", "/v1/admin/keys?environment=a.b", "", "environment"},
		{"GET", "/v1/admin/keys?include_revoked=maybe", "", "include_revoked"},
		{"POST", "/v1/admin/keys", `{"environment":"web\u0000"}`, "environment"},
		{"POST", "/v1/admin/keys", `{"environment":"` + long + `"}`, "environment"},
		{"POST", "/v1/admin/keys", `{"environment":"web","description":"a\u0000b"}`, "description"},
		{"POST", "/v1/admin/keys", `{"environment":"web","description":"` + long + `"}`, "description"},
		{"POST", "/v1/admin/keys", `{"environment":"web","actor":"ann\r\nbob"}`, "actor"},
		{"POST", "/v1/admin/keys", `{"environment":"web","colour":"red"}`, "colour"},
		{"POST", "/v1/admin/keys", `{"environment":`, ""},
		{"POST", "/v1/admin/keys", "\xff\xfe", ""},
		{"POST", "/v1/admin/keys/ck_%00:revoke", `{}`, "key_id"},
		{"POST", "/v1/admin/keys/%ff:revoke", `{}`, "key_id"},
		{"POST", "/v1/admin/keys/ck_" + long + ":revoke", `{}`, "key_id"},
		{"POST", "/v1/admin/keys/ck_abc:revoke", `{"actor":"` + long + `"}`, "actor"},
		{"GET", "/v1/admin/dead-letters?environment=%00", "", "environment"},
		{"GET", "/v1/admin/dead-letters?environment=%ff", "", "environment"},
		{"GET", "/v1/admin/dead-letters?environment=" + long, "", "environment"},
		{"GET", "/v1/admin/dead-letters?environment=*", "", "environment"},
		{"GET", "/v1/admin/dead-letters?limit=-1", "", "limit"},
		{"GET", "/v1/admin/dead-letters?limit=x", "", "limit"},
		{"GET", "/v1/admin/dead-letters?reason=NOPE", "", "reason"},
		{"GET", "/v1/admin/dead-letters?reason=99", "", "reason"},
		{"GET", "/v1/admin/dead-letters?after_sequence=-1", "", "after_sequence"},
		{"GET", "/v1/admin/dead-letters/0", "", "sequence"},
		{"GET", "/v1/admin/dead-letters/x", "", "sequence"},
		{"POST", "/v1/admin/dead-letters:replay", `{}`, "actor"},
		{"POST", "/v1/admin/dead-letters:replay", `{"actor":"ops","environment":"\u0000"}`, "environment"},
		{"POST", "/v1/admin/dead-letters:replay", `{"actor":"ops\u0000"}`, "actor"},
		{"POST", "/v1/admin/dead-letters:replay", `{"actor":"ops","reason":"NOPE"}`, ""},
		{"POST", "/v1/admin/dead-letters:replay", `{"actor":"ops","sequences":["x"]}`, ""},
		{"GET", "/v1/admin/reports/hourly?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z&environment=%00", "", "environment"},
		{"GET", "/v1/admin/reports/hourly?from=yesterday&to=2025-06-02T00:00:00Z", "", "from"},
		{"GET", "/v1/admin/reports/hourly?event_id=-1", "", "event_id"},
		{"GET", "/v1/admin/reports/hourly", "", "from and to are required"},
	}
	for _, tt := range tests {
		code, msg := adminCall(t, base, tt.method, tt.target, tt.body)
		name := tt.method + " " + tt.target
		if len(name) > 120 {
			name = name[:120] + "…"
		}
		if code < 400 || code >= 500 {
			t.Errorf("%s: %d %.300s; want a 4xx", name, code, msg)
			continue
		}
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %.300s; want 400", name, code, msg)
		}
		if !strings.Contains(msg, tt.want) {
			t.Errorf("%s: message %.300q does not name %q", name, msg, tt.want)
		}
		if len(msg) > 1024 {
			t.Errorf("%s: a message of %d bytes echoes the input", name, len(msg))
		}
	}

	// What is well-formed still works.
	for _, target := range []string{"/v1/admin/keys?environment=web", "/v1/admin/dead-letters?environment=web&reason=REJECT_REASON_EMPTY&limit=5",
		"/v1/admin/reports/hourly?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z&environment=web"} {
		if code, msg := adminCall(t, base, "GET", target, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", target, code, msg)
		}
	}
}

// FuzzAdminREST sends arbitrary query parameters and bodies to every admin
// route over REST: the answer is never a 5xx (which is also what a panic
// becomes).
func FuzzAdminREST(f *testing.F) {
	seeds := []struct {
		route       uint8
		query, body string
	}{
		{0, "environment=%00", ""},
		{0, "environment=%ff&include_revoked=true", ""},
		{1, "", `{"environment":"web","description":"d","actor":"a"}`},
		{1, "", `{"environment":"web\u0000"}`},
		{2, "", `{"actor":"ann"}`},
		{3, "environment=web&reason=REJECT_REASON_EMPTY&after_sequence=3&limit=2", ""},
		{4, "", ""},
		{5, "", `{"actor":"ops","sequences":["1","2"],"environment":"web","reason":"REJECT_REASON_UNKNOWN_FIELD"}`},
		{6, "from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z&event_id=1001&environment=web", ""},
		{6, "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, "x", s.query, []byte(s.body))
	}
	base := serveAdmin(f, &flakyKeyStore{keys: map[string]ingest.APIKey{}})
	f.Fuzz(func(t *testing.T, route uint8, pathParam, query string, body []byte) {
		p := url.PathEscape(pathParam)
		routes := []struct{ method, path string }{
			{"GET", "/v1/admin/keys"},
			{"POST", "/v1/admin/keys"},
			{"POST", "/v1/admin/keys/" + p + ":revoke"},
			{"GET", "/v1/admin/dead-letters"},
			{"GET", "/v1/admin/dead-letters/" + p},
			{"POST", "/v1/admin/dead-letters:replay"},
			{"GET", "/v1/admin/reports/hourly"},
		}
		r := routes[int(route)%len(routes)]
		target := r.path
		if query != "" {
			target += "?" + query
		}
		code, msg := adminCall(t, base, r.method, target, string(body))
		if code >= 500 {
			t.Fatalf("%s %.300s with %.300q: %d %.500s", r.method, target, body, code, msg)
		}
	})
}
