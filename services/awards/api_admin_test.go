package awards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/awards"
)

const adminToken = "test-admin-token"

// adminEnv is an engine env served on a real port with the admin API.
type adminEnv struct {
	*engineEnv
	url    string
	client awardsv1connect.AwardsAdminServiceClient
}

func newAdminEnv(t *testing.T, consumers *awards.Consumers) *adminEnv {
	t.Helper()
	return serveAdmin(t, newEngineEnv(t), consumers)
}

func serveAdmin(t *testing.T, env *engineEnv, consumers *awards.Consumers) *adminEnv {
	t.Helper()
	routes := awards.Routes(awards.RoutesConfig{AdminToken: adminToken}, testPublicAPI(t, env), awards.NewAdminAPI(env.engine, consumers, nil))
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
	client := awardsv1connect.NewAwardsAdminServiceClient(http.DefaultClient, srv.URL(), connect.WithInterceptors(bearer(adminToken)))
	return &adminEnv{engineEnv: env, url: srv.URL(), client: client}
}

// bearer adds "Authorization: Bearer token" to every call.
func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}
}

// rest does an HTTP request and returns the status and body.
func rest(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestAdminAPIRefusesCallersWithoutAdminCredentials(t *testing.T) {
	env := newAdminEnv(t, nil)
	for _, tc := range []struct {
		token string
		rest  int
		code  connect.Code
	}{{"", http.StatusUnauthorized, connect.CodeUnauthenticated}, {"wrong", http.StatusForbidden, connect.CodePermissionDenied}} {
		if status, body := rest(t, "GET", env.url+"/v1/admin/achievements", tc.token, ""); status != tc.rest {
			t.Errorf("REST with token %q: %d %s, want %d", tc.token, status, body, tc.rest)
		}
		var opts []connect.ClientOption
		if tc.token != "" {
			opts = append(opts, connect.WithInterceptors(bearer(tc.token)))
		}
		c := awardsv1connect.NewAwardsAdminServiceClient(http.DefaultClient, env.url, append(opts, connect.WithGRPC())...)
		_, err := c.ListAchievementConfigs(t.Context(), &awardsv1.ListAchievementConfigsRequest{})
		if connect.CodeOf(err) != tc.code {
			t.Errorf("gRPC with token %q: %v, want %v", tc.token, err, tc.code)
		}
	}
	if status, body := rest(t, "GET", env.url+"/v1/admin/achievements", adminToken, ""); status != http.StatusOK || !strings.Contains(body, "local-guide") {
		t.Errorf("REST with the admin token: %d %s", status, body)
	}
}

func TestAdminConfigurationRoundTrip(t *testing.T) {
	env := newAdminEnv(t, nil)
	ctx := t.Context()
	got, err := env.client.GetAchievementConfig(ctx, &awardsv1.GetAchievementConfigRequest{Id: "thoughtful-reviewer"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := got.GetAchievement().GetConfig()
	if got.GetAchievement().GetVersion() != 1 || cfg.GetObjectives()[0].GetRule().GetFields()["name"].GetStringValue() != "ReviewUniqueByObjectRule" {
		t.Fatalf("stored config = %v", got)
	}

	// Dry run: no problems, no changes for the stored config; a change
	// shows in the diff; a broken config lists its problems.
	v, err := env.client.ValidateAchievement(ctx, &awardsv1.ValidateAchievementRequest{Config: cfg})
	if err != nil || v.GetChanges() || len(v.GetProblems()) != 0 {
		t.Fatalf("validate the stored config: %v %v", v, err)
	}
	cfg.Title = "Very thoughtful reviewer"
	v, err = env.client.ValidateAchievement(ctx, &awardsv1.ValidateAchievementRequest{Config: cfg})
	if err != nil || !v.GetChanges() || !strings.Contains(v.GetDiff(), `+  "title": "Very thoughtful reviewer"`) {
		t.Fatalf("validate a changed title: %v %v", v, err)
	}
	broken := withRuleName(t, cfg, "NoSuchRule")
	v, err = env.client.ValidateAchievement(ctx, &awardsv1.ValidateAchievementRequest{Config: broken})
	if err != nil || len(v.GetProblems()) == 0 || !strings.Contains(strings.Join(v.GetProblems(), " "), `unknown rule "NoSuchRule"`) {
		t.Fatalf("validate a broken config: %v %v", v, err)
	}
	if _, err := env.client.SaveAchievement(ctx, &awardsv1.SaveAchievementRequest{Config: broken, Actor: "op"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("save a broken config: %v, want InvalidArgument", err)
	}

	saved, err := env.client.SaveAchievement(ctx, &awardsv1.SaveAchievementRequest{Config: cfg, Actor: "operator-1"})
	if err != nil || saved.GetVersion() != 2 || !saved.GetChanged() {
		t.Fatalf("save: %v %v", saved, err)
	}
	hist, err := env.client.ListConfigHistory(ctx, &awardsv1.ListConfigHistoryRequest{Id: "thoughtful-reviewer"})
	if err != nil || len(hist.GetVersions()) != 2 || hist.GetVersions()[0].GetAuthor() != "operator-1" || hist.GetVersions()[0].GetConfig().GetTitle() != cfg.GetTitle() {
		t.Fatalf("history: %v %v", hist, err)
	}

	// REST answers the same as Connect.
	status, body := rest(t, "GET", env.url+"/v1/admin/achievements/thoughtful-reviewer", adminToken, "")
	var viaREST awardsv1.GetAchievementConfigResponse
	if status != http.StatusOK || protojson.Unmarshal([]byte(body), &viaREST) != nil || viaREST.GetAchievement().GetConfig().GetTitle() != cfg.GetTitle() {
		t.Errorf("REST get: %d %s", status, body)
	}
	comps, err := env.client.ListComponents(ctx, &awardsv1.ListComponentsRequest{})
	if err != nil || len(comps.GetFilters()) < 6 || len(comps.GetRules()) < 5 {
		t.Fatalf("components: %v %v", comps, err)
	}
	for _, c := range append(comps.GetFilters(), comps.GetRules()...) {
		if c.GetDescription() == "" {
			t.Errorf("component %s is not documented", c.GetName())
		}
	}
}

func TestExplainShowsNodesAndEvents(t *testing.T) {
	env := newAdminEnv(t, nil)
	review := reviewRecord("u1", "r1", "theatre-1", active, 40)
	photo1, photo2 := photoRecord("u1", "p1", active), photoRecord("u1", "p2", active)
	trip := tripRecord("u1", "t1", 4000)
	env.apply(t, review, photo1, photo2, trip)

	x, err := env.client.Explain(t.Context(), &awardsv1.ExplainRequest{UserId: "u1", AchievementId: "local-guide"})
	if err != nil {
		t.Fatal(err)
	}
	if x.GetProgress() != 7 || x.GetGoal() != 15 || x.GetCompleted() {
		t.Errorf("progress %v of %v completed %v, want 7 of 15", x.GetProgress(), x.GetGoal(), x.GetCompleted())
	}
	values := map[string]float64{}
	for _, n := range x.GetNodes() {
		values[n.GetPath()+"|"+n.GetObjectiveId()] = n.GetValue()
	}
	want := map[string]float64{"|": 7, "strategy[0]|": 3, "strategy[0].strategy[0]|photo": 2, "strategy[0].strategy[1]|reviews": 1,
		"strategy[1]|": 4, "strategy[1].strategy[0]|navi": 4}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("node %s = %v, want %v (all: %v)", k, values[k], v, values)
		}
	}
	events := map[string][]string{}
	for _, o := range x.GetObjectives() {
		for _, c := range o.GetContributions() {
			events[o.GetKey()] = append(events[o.GetKey()], c.GetRecordId())
		}
	}
	wantEvents := map[string][]string{"photo": {photo1.GetId(), photo2.GetId()}, "reviews": {review.GetId()}, "navi": {trip.GetId()}}
	for k, ids := range wantEvents {
		got := events[k]
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			t.Errorf("objective %s events %v, want %v", k, got, ids)
		}
	}
	// Over REST too.
	status, body := rest(t, "GET", env.url+"/v1/admin/users/u1/achievements/local-guide:explain", adminToken, "")
	if status != http.StatusOK || !strings.Contains(body, trip.GetId()) {
		t.Errorf("REST explain: %d %s", status, body)
	}
	if _, err := env.client.Explain(t.Context(), &awardsv1.ExplainRequest{UserId: "u1", AchievementId: "nope"}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("explain of an unknown achievement: %v, want NotFound", err)
	}
}

func TestProcessingLogPagesAndUserStatus(t *testing.T) {
	env := newAdminEnv(t, nil)
	var recs []*busv1.EventRecord
	for i := range 5 {
		recs = append(recs, reviewRecord("u1", fmt.Sprintf("r%d", i), fmt.Sprintf("o%d", i), active, int32(95+i*2)))
	}
	env.apply(t, recs...)
	var entries []*awardsv1.ProcessingLogEntry
	token := ""
	for {
		page, err := env.client.ListProcessingLog(t.Context(), &awardsv1.ListProcessingLogRequest{UserId: "u1", AchievementId: "thoughtful-reviewer", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, page.GetEntries()...)
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	outcomes := map[string]int{}
	for _, e := range entries {
		outcomes[e.GetOutcome()+" "+e.GetFilter()]++
	}
	// Lengths 95, 97, 99 are filtered; 101 and 103 applied.
	if len(entries) != 5 || outcomes["filtered ReviewsLengthFilter"] != 3 || outcomes["applied "] != 2 {
		t.Errorf("log = %v", outcomes)
	}

	prev, err := env.client.SetUserStatus(t.Context(), &awardsv1.SetUserStatusRequest{UserId: "u1", Status: "banned", Actor: "op"})
	if err != nil || prev.GetPreviousStatus() != "active" {
		t.Fatalf("ban: %v %v", prev, err)
	}
	env.apply(t, reviewRecord("u1", "r9", "o9", active, 300))
	env.wantAchievement(t, "u1", "thoughtful-reviewer", 2, false)
	if _, err := env.client.SetUserStatus(t.Context(), &awardsv1.SetUserStatusRequest{UserId: "u1", Status: "gone", Actor: "op"}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("bad status: %v", err)
	}
}

func TestReconcileAndRecomputeUser(t *testing.T) {
	env := newAdminEnv(t, nil)
	env.apply(t, photoRecord("u1", "p1", active), photoRecord("u1", "p2", active), photoRecord("u2", "p3", active))
	r, err := env.client.Reconcile(t.Context(), &awardsv1.ReconcileRequest{})
	if err != nil || len(r.GetDrifts()) != 0 {
		t.Fatalf("reconcile before corruption: %v %v", r, err)
	}
	if _, err := env.pool.Exec(t.Context(), `
		UPDATE awards.user_objectives uo SET counters = '{"active": 5}', progress = 5
		FROM awards.objectives o WHERE o.id = uo.objective_id AND uo.user_id = 'u1'
		AND o.achievement_id = 'photos-and-reviews' AND o.key = 'photo'`); err != nil {
		t.Fatal(err)
	}
	r, err = env.client.Reconcile(t.Context(), &awardsv1.ReconcileRequest{})
	if err != nil || len(r.GetDrifts()) != 2 {
		t.Fatalf("reconcile after corruption: %v %v", r, err)
	}
	d := r.GetDrifts()[0]
	if d.GetLevel() != "counters" || d.GetUserId() != "u1" || d.GetAchievementId() != "photos-and-reviews" || d.GetObjectiveKey() != "photo" ||
		d.GetStored()["active"] != 5 || d.GetRecomputed()["active"] != 2 {
		t.Errorf("drift = %v", d)
	}
	if d := r.GetDrifts()[1]; d.GetLevel() != "objective_progress" || d.GetStoredProgress() != 5 || d.GetExpectedProgress() != 2 {
		t.Errorf("drift = %v", d)
	}
	if f := r.GetFound(); f.GetCounters() != 1 || f.GetObjectiveProgress() != 1 || r.GetUsers() != 2 {
		t.Errorf("found %v over %d users", f, r.GetUsers())
	}
	// A stale achievement too: recompute reports both.
	if _, err := env.pool.Exec(t.Context(), `UPDATE awards.user_achievements SET progress = 0.5 WHERE user_id = 'u1' AND achievement_id = 'local-guide'`); err != nil {
		t.Fatal(err)
	}
	rec, err := env.client.RecomputeUser(t.Context(), &awardsv1.RecomputeUserRequest{UserId: "u1"})
	if err != nil || rec.GetCorrected() != 3 || len(rec.GetDrifts()) != 3 || rec.GetRepaired().GetAchievementProgress() != 1 || rec.GetRecomputed() == 0 {
		t.Fatalf("recompute: %v %v", rec, err)
	}
	env.cycle(t)
	env.wantAchievement(t, "u1", "photos-and-reviews", 2, false)
	env.wantAchievement(t, "u1", "local-guide", 2, false)
	if r, _ := env.client.Reconcile(t.Context(), &awardsv1.ReconcileRequest{}); len(r.GetDrifts()) != 0 {
		t.Errorf("drifts after recompute: %v", r.GetDrifts())
	}
	// Repair through the API, with the REST route.
	if _, err := env.pool.Exec(t.Context(), `UPDATE awards.user_achievements SET completed_at = now() WHERE user_id = 'u2' AND achievement_id = 'local-guide'`); err != nil {
		t.Fatal(err)
	}
	code, body := rest(t, http.MethodPost, env.url+"/v1/admin/reconcile", adminToken, `{"repair": true}`)
	var got awardsv1.ReconcileResponse
	if err := protojson.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK {
		t.Fatalf("REST reconcile with repair: %d %s", code, body)
	}
	if len(got.GetDrifts()) != 1 || got.GetDrifts()[0].GetLevel() != "completion" || !got.GetDrifts()[0].GetRepaired() ||
		got.GetRepaired().GetCompletion() != 1 || got.GetFound().GetCompletion() != 1 {
		t.Errorf("REST reconcile with repair: %s", body)
	}
	env.wantAchievement(t, "u2", "local-guide", 1, false)
}

// TestPauseAndResumeSourceLosesNothing: events keep arriving while a source
// is paused; after resuming every event is applied exactly once.
func TestPauseAndResumeSourceLosesNothing(t *testing.T) {
	env := newEngineEnv(t)
	b := bustest.New(t)
	c, _ := startConsumers(t, env, b)
	aenv := serveAdmin(t, env, c)
	ctx := t.Context()

	var published []*busv1.EventRecord
	send := func(n int) {
		var recs []*busv1.EventRecord
		for range n {
			recs = append(recs, tripRecord("u1", fmt.Sprintf("t%d", len(published)+len(recs)), 100))
		}
		publish(t, b, recs)
		published = append(published, recs...)
	}
	send(20)
	if _, err := aenv.client.PauseSource(ctx, &awardsv1.PauseSourceRequest{Source: "navigation", Actor: "op"}); err != nil {
		t.Fatal(err)
	}
	// Paused: the worker has stopped (PauseSource returns after it did).
	if slices.Contains(c.Sources(), "NavigationTripFinished") {
		t.Fatal("the navigation worker still runs after PauseSource returned")
	}
	logged := count(t, env.pool, `SELECT count(DISTINCT record_id) FROM awards.processing_log`)
	send(30)
	src, err := aenv.client.ListSources(ctx, &awardsv1.ListSourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range src.GetSources() {
		if s.GetName() == "NavigationTripFinished" && (!s.GetPaused() || s.GetPending() < 30) {
			t.Errorf("source while paused = %v, want paused with at least 30 pending", s)
		}
	}
	if n := count(t, env.pool, `SELECT count(DISTINCT record_id) FROM awards.processing_log`); n != logged {
		t.Errorf("%d events applied while paused (before: %d)", n, logged)
	}
	if _, err := aenv.client.ResumeSource(ctx, &awardsv1.ResumeSourceRequest{Source: "NavigationTripFinished", Actor: "op"}); err != nil {
		t.Fatal(err)
	}
	send(10)
	waitFor(t, func() bool { return drained(t, b, c, sources) })
	if n := count(t, env.pool, `SELECT count(DISTINCT record_id) FROM awards.processing_log`); n != len(published) {
		t.Errorf("%d distinct events applied, want all %d", n, len(published))
	}
	// Exactly once: each trip once per navigation objective.
	navi := len(env.engine.Snapshot().Objectives("NavigationTripFinished"))
	if n := count(t, env.pool, `SELECT count(*) FROM awards.processing_log`); n != navi*len(published) {
		t.Errorf("%d log rows, want %d", n, navi*len(published))
	}
	env.cycle(t)
	env.wantAchievement(t, "u1", "navigator-10km", 6, false) // 60 trips × 100 m
}

// withRuleName returns c with its first objective's rule renamed.
func withRuleName(t *testing.T, c *awardsv1.AchievementConfig, name string) *awardsv1.AchievementConfig {
	t.Helper()
	var m map[string]any
	js, _ := protojson.Marshal(c)
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	m["objectives"].([]any)[0].(map[string]any)["rule"].(map[string]any)["name"] = name
	js, _ = json.Marshal(m)
	out := &awardsv1.AchievementConfig{}
	if err := protojson.Unmarshal(js, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// testPublicAPI is the public API of env with a JWT secret for tests.
func testPublicAPI(t *testing.T, env *engineEnv) *awards.PublicAPI {
	t.Helper()
	v, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return awards.NewPublicAPI(env.store, v)
}
