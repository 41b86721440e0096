package awards_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// serveProbe serves the public and admin APIs, with backfills, on a real
// port and returns its URL.
func serveProbe(t *testing.T) (*adminEnv, string) {
	t.Helper()
	env := newEngineEnv(t)
	backfills := awards.NewBackfills(env.engine, bustest.New(t).JetStream(), awards.BackfillsConfig{FetchWait: 100 * time.Millisecond})
	routes := awards.Routes(awards.RoutesConfig{AdminToken: adminToken}, testPublicAPI(t, env), awards.NewAdminAPI(env.engine, nil, backfills))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", Logger: quiet}, routes)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &adminEnv{engineEnv: env, url: srv.URL()}, srv.URL()
}

// TestAPIProbes sends what an outside caller may send at every REST input
// of awards: each answer is a 4xx naming the problem, never a 5xx, and no
// answer carries a database error.
func TestAPIProbes(t *testing.T) {
	_, url := serveProbe(t)
	long := strings.Repeat("u", 300)
	nest := strings.Repeat(`{"strategy":[`, 200) + `{"objective_id":"navi"}` + strings.Repeat(`]}`, 200)
	config := func(fields string) string {
		return `{"actor":"op","config":{"id":"probe","title":"Probe","objectives":[{"key":"navi","sources":["navigation"],
			"rule":{"name":"SumRule","config":{"field":"distance_m"}}}],"strategy":{"goal":1,"strategy":[{"objective_id":"navi"}]}` + fields + `}}`
	}
	probes := []struct {
		name, method, path, body string
		// mention is a word the answer must hold (the parameter named).
		mention string
	}{
		// Path parameters.
		{"user id NUL", "GET", "/v1/users/%00/achievements", "", "user_id"},
		{"user id control", "GET", "/v1/users/a%01b/achievements", "", "user_id"},
		{"user id invalid UTF-8", "GET", "/v1/users/%ff%fe/achievements", "", "user_id"},
		{"user id long", "GET", "/v1/users/" + long + "/achievements", "", "user_id"},
		{"user id dot dot", "GET", "/v1/users/%2e%2e/achievements", "", "user_id"},
		{"page token NUL", "GET", "/v1/users/u1/achievements?page_token=YTE6AA", "", "page_token"},
		{"page token junk", "GET", "/v1/achievements?page_token=%00%00", "", "page_token"},
		{"page size negative", "GET", "/v1/achievements?page_size=-1", "", "page_size"},
		{"page size not a number", "GET", "/v1/achievements?page_size=abc", "", ""},
		{"admin config id NUL", "GET", "/v1/admin/achievements/%00", "", "id"},
		{"admin config id invalid UTF-8", "GET", "/v1/admin/achievements/%c3%28", "", "id"},
		{"admin config id long", "GET", "/v1/admin/achievements/" + long, "", "id"},
		{"admin history id NUL", "GET", "/v1/admin/achievements/%00/history", "", "id"},
		{"explain user NUL", "GET", "/v1/admin/users/%00/achievements/local-guide:explain", "", "user_id"},
		{"explain achievement NUL", "GET", "/v1/admin/users/u1/achievements/%00:explain", "", "achievement_id"},
		{"explain user long", "GET", "/v1/admin/users/" + long + "/achievements/local-guide:explain", "", "user_id"},
		{"log user NUL", "GET", "/v1/admin/users/%00/processing-log?achievement_id=local-guide", "", "user_id"},
		{"log achievement NUL", "GET", "/v1/admin/users/u1/processing-log?achievement_id=%00", "", "achievement_id"},
		{"log objective NUL", "GET", "/v1/admin/users/u1/processing-log?achievement_id=local-guide&objective_key=%00", "", "objective_key"},
		{"log page token NUL", "GET", "/v1/admin/users/u1/processing-log?achievement_id=local-guide&page_token=eyJSZWNvcmRJRCI6Ilx1MDAwMCJ9", "", "page_token"},
		{"log page token junk", "GET", "/v1/admin/users/u1/processing-log?achievement_id=local-guide&page_token=!!", "", "page_token"},
		{"backfill id not a number", "GET", "/v1/admin/backfills/abc", "", ""},
		{"backfill id unknown", "GET", "/v1/admin/backfills/999999", "", ""},
		{"notifications state", "GET", "/v1/admin/notifications?state=%00", "", "state"},

		// Request bodies.
		{"recompute user NUL", "POST", "/v1/admin/users/%00:recompute", `{}`, "user_id"},
		{"recompute not JSON", "POST", "/v1/admin/users/u1:recompute", `{`, ""},
		{"status user NUL", "PUT", "/v1/admin/users/%00/status", `{"status":"banned","actor":"op"}`, "user_id"},
		{"status actor NUL", "PUT", "/v1/admin/users/u1/status", `{"status":"banned","actor":"o\u0000p"}`, "actor"},
		{"status unknown", "PUT", "/v1/admin/users/u1/status", `{"status":"\u0000","actor":"op"}`, "status"},
		{"status not a string", "PUT", "/v1/admin/users/u1/status", `{"status":[1],"actor":"op"}`, ""},
		{"reconcile user NUL", "POST", "/v1/admin/reconcile", `{"user_id":"\u0000"}`, "user_id"},
		{"pause source NUL", "POST", "/v1/admin/sources/%00:pause", `{"actor":"op"}`, "source"},
		{"resume actor control", "POST", "/v1/admin/sources/photos:resume", `{"actor":"\u0007"}`, "actor"},
		{"backfill actor NUL", "POST", "/v1/admin/backfills", `{"from":"2025-01-01T00:00:00Z","actor":"\u0000"}`, "actor"},
		{"backfill achievement NUL", "POST", "/v1/admin/backfills", `{"from":"2025-01-01T00:00:00Z","actor":"op","achievement_id":"\u0000"}`, "achievement_id"},
		{"backfill from junk", "POST", "/v1/admin/backfills", `{"from":"yesterday","actor":"op"}`, ""},
		{"retry actor NUL", "POST", "/v1/admin/notifications:retry", `{"actor":"\u0000","ids":[1]}`, "actor"},
		{"retry ids junk", "POST", "/v1/admin/notifications:retry", `{"actor":"op","ids":["x"]}`, ""},
		{"save not JSON", "PUT", "/v1/admin/achievements/probe", `not json`, ""},
		{"save empty", "PUT", "/v1/admin/achievements/probe", `{}`, ""},
		{"save actor NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"op"`, `"\u0000"`, 1), "actor"},
		{"save id NUL", "PUT", "/v1/admin/achievements/%00", config(""), "id"},
		{"save title NUL", "PUT", "/v1/admin/achievements/probe", config(`,"title":"a\u0000b"`), "title"},
		{"save description control", "PUT", "/v1/admin/achievements/probe", config(`,"description":"\u001b[2J"`), "description"},
		{"save image long", "PUT", "/v1/admin/achievements/probe", config(`,"image_url":"` + strings.Repeat("x", 5000) + `"`), "image_url"},
		{"save strategy NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"goal":1`, `"goal":1,"x":"\u0000"`, 1), "strategy"},
		{"save strategy NUL key", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"goal":1`, `"goal":1,"\u0000":1`, 1), "strategy"},
		{"save strategy deep", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `{"goal":1,"strategy":[{"objective_id":"navi"}]}`, nest, 1), "strategy"},
		{"save strategy not an object", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `{"goal":1,"strategy":[{"objective_id":"navi"}]}`, `[1]`, 1), ""},
		{"save rule NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"distance_m"`, `"\u0000"`, 1), "rule"},
		{"save filters NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"rule":`, `"filters":[{"name":"\u0000"}],"rule":`, 1), "filter"},
		{"save filters not a list", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"rule":`, `"filters":{"a":1},"rule":`, 1), ""},
		{"save source NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"navigation"`, `"\u0000"`, 1), "source"},
		{"save key NUL", "PUT", "/v1/admin/achievements/probe", strings.Replace(config(""), `"key":"navi"`, `"key":"\u0000"`, 1), "key"},
		{"save starts after ends", "PUT", "/v1/admin/achievements/probe", config(`,"starts_at":"2026-01-01T00:00:00Z","ends_at":"2025-01-01T00:00:00Z"`), "ends_at"},
		{"save timestamp junk", "PUT", "/v1/admin/achievements/probe", config(`,"starts_at":"soon"`), ""},
		{"save policy NUL", "PUT", "/v1/admin/achievements/probe", config(`,"policy":"\u0000"`), "policy"},
		{"validate id NUL", "POST", "/v1/admin/achievements:validate", `{"config":{"id":"\u0000","title":"\u0000"}}`, ""},
		{"validate not JSON", "POST", "/v1/admin/achievements:validate", `[`, ""},
		{"validate number huge", "POST", "/v1/admin/achievements:validate", strings.Replace(config(""), `"goal":1`, `"goal":1e400`, 1), ""},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			status, body := rest(t, p.method, url+p.path, adminToken, p.body)
			switch {
			case status >= 500:
				t.Errorf("%s %s: %d %s", p.method, p.path, status, body)
			case strings.Contains(body, "SQLSTATE"):
				t.Errorf("%s %s: the answer carries a database error: %s", p.method, p.path, body)
			case strings.Contains(p.name, "validate") && status == http.StatusOK:
				// A dry run answers its problems in the body.
				if !strings.Contains(body, "problems") {
					t.Errorf("%s %s: 200 without problems: %s", p.method, p.path, body)
				}
			case status < 400:
				t.Errorf("%s %s: %d %s, want a 4xx", p.method, p.path, status, body)
			case p.mention != "" && !strings.Contains(body, p.mention) && !strings.Contains(body, `"path: `):
				// The server's edge may refuse a path before awards sees
				// its parameters; it names the path then.
				t.Errorf("%s %s: %d %s does not name %s", p.method, p.path, status, body, p.mention)
			}
		})
	}
}

// TestAPIProbesConnect sends the identifiers gRPC and Connect callers can
// send (with binary protobuf, which refuses invalid UTF-8 itself).
func TestAPIProbesConnect(t *testing.T) {
	env, _ := serveProbe(t)
	env.client = awardsv1connect.NewAwardsAdminServiceClient(http.DefaultClient, env.url, connect.WithInterceptors(bearer(adminToken)))
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"explain": func() error {
			_, err := env.client.Explain(ctx, &awardsv1.ExplainRequest{UserId: "a\x00", AchievementId: "local-guide"})
			return err
		},
		"recompute": func() error {
			_, err := env.client.RecomputeUser(ctx, &awardsv1.RecomputeUserRequest{UserId: strings.Repeat("x", 1000)})
			return err
		},
		"history": func() error {
			_, err := env.client.ListConfigHistory(ctx, &awardsv1.ListConfigHistoryRequest{Id: "\x00"})
			return err
		},
		"status": func() error {
			_, err := env.client.SetUserStatus(ctx, &awardsv1.SetUserStatusRequest{UserId: "..", Status: "banned", Actor: "op"})
			return err
		},
	} {
		if err := call(); connect.CodeOf(err) != connect.CodeInvalidArgument || strings.Contains(err.Error(), "SQLSTATE") {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}
