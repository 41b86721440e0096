package awards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
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

// settingsEnv serves env's public API (user tokens signed with testSecret)
// and admin API (adminToken) on one port, as the stack does.
type settingsEnv struct {
	*engineEnv
	url    string
	public awardsv1connect.AwardsServiceClient
	admin  awardsv1connect.AwardsAdminServiceClient
}

func newSettingsEnv(t *testing.T) *settingsEnv {
	t.Helper()
	env := newEngineEnv(t)
	routes := awards.Routes(awards.RoutesConfig{AdminToken: adminToken}, newPublicAPI(t, env.store), awards.NewAdminAPI(env.engine, nil, nil))
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
	return &settingsEnv{
		engineEnv: env,
		url:       srv.URL(),
		public:    awardsv1connect.NewAwardsServiceClient(http.DefaultClient, srv.URL()),
		admin:     awardsv1connect.NewAwardsAdminServiceClient(http.DefaultClient, srv.URL(), connect.WithInterceptors(bearer(adminToken))),
	}
}

// asUser is a Connect call context carrying user's token.
func asUser(t *testing.T, user string) context.Context {
	ctx, info := connect.NewClientContext(t.Context())
	info.RequestHeader().Set("Authorization", "Bearer "+token(t, user))
	return ctx
}

// restSettings is the JSON of GET/PUT /v1/me/notification-settings.
type restSettings struct {
	UserID   string `json:"userId"`
	Settings struct {
		Mode      string `json:"mode"`
		UpdatedAt string `json:"updatedAt"`
		UpdatedBy string `json:"updatedBy"`
	} `json:"settings"`
}

func decodeSettings(t *testing.T, body string) restSettings {
	t.Helper()
	var s restSettings
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("settings body %s: %v", body, err)
	}
	return s
}

// TestNotificationSettingsAPI: a user reads and sets their own settings
// over REST and Connect with their JWT, never another's; an operator reads
// and sets anyone's; calls without a token or with a bad mode are refused
// with a code and a message saying what to send.
func TestNotificationSettingsAPI(t *testing.T) {
	env := newSettingsEnv(t)
	me := env.url + "/v1/me/notification-settings"

	// A user who never set anything gets every notification.
	code, body := rest(t, http.MethodGet, me, token(t, "alice"), "")
	if s := decodeSettings(t, body); code != http.StatusOK || s.UserID != "alice" || s.Settings.Mode != "all" || s.Settings.UpdatedAt != "" {
		t.Errorf("GET %s (never set): HTTP %d %s, want alice's default mode all, never updated", me, code, body)
	}

	// REST: PUT with the settings as the body.
	before := time.Now().Add(-time.Second)
	code, body = rest(t, http.MethodPut, me, token(t, "alice"), `{"mode":"none"}`)
	if s := decodeSettings(t, body); code != http.StatusOK || s.UserID != "alice" || s.Settings.Mode != "none" || s.Settings.UpdatedBy != "user" {
		t.Errorf("PUT %s none: HTTP %d %s, want alice's mode none updated by the user", me, code, body)
	}
	code, body = rest(t, http.MethodGet, me, token(t, "alice"), "")
	s := decodeSettings(t, body)
	at, err := time.Parse(time.RFC3339Nano, s.Settings.UpdatedAt)
	if code != http.StatusOK || s.Settings.Mode != "none" || err != nil || at.Before(before) {
		t.Errorf("GET %s after PUT: HTTP %d %s, want mode none updated just now", me, code, body)
	}

	// Connect: the same calls.
	upd, err := env.public.UpdateMyNotificationSettings(asUser(t, "bob"), &awardsv1.UpdateMyNotificationSettingsRequest{
		Settings: &awardsv1.NotificationSettings{Mode: "no_announcements"}})
	if err != nil || upd.GetUserId() != "bob" || upd.GetSettings().GetMode() != "no_announcements" {
		t.Errorf("Connect UpdateMyNotificationSettings: %v, %v; want bob's no_announcements", upd, err)
	}
	got, err := env.public.GetMyNotificationSettings(asUser(t, "bob"), &awardsv1.GetMyNotificationSettingsRequest{})
	if err != nil || got.GetSettings().GetMode() != "no_announcements" || got.GetSettings().GetUpdatedAt() == nil {
		t.Errorf("Connect GetMyNotificationSettings: %v, %v; want bob's no_announcements", got, err)
	}

	// A user reads only their own settings: the user is the token's, a
	// user_id in the query does not change it, and the admin routes refuse
	// a user's token.
	code, body = rest(t, http.MethodGet, me+"?user_id=alice", token(t, "bob"), "")
	if code == http.StatusOK && decodeSettings(t, body).UserID != "bob" {
		t.Errorf("bob's GET %s?user_id=alice answered %s, want bob's own settings or a refusal", me, body)
	}
	if strings.Contains(body, `"none"`) {
		t.Errorf("bob read alice's settings: %s", body)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		code, body = rest(t, method, env.url+"/v1/admin/users/alice/notification-settings", token(t, "bob"), `{"settings":{"mode":"all"},"actor":"bob"}`)
		if code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("%s alice's settings on the admin route with bob's JWT: HTTP %d %s, want 401 or 403", method, code, body)
		}
	}

	// No token, a bad token: 401 / Unauthenticated, saying what to send.
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		code, body = rest(t, method, me, "", `{"mode":"none"}`)
		if code != http.StatusUnauthorized || !strings.Contains(body, "Authorization: Bearer") {
			t.Errorf("%s %s without a token: HTTP %d %s, want 401 saying to send Authorization: Bearer", method, me, code, body)
		}
		code, body = rest(t, method, me, "not-a-jwt", `{"mode":"none"}`)
		if code != http.StatusUnauthorized || !strings.Contains(body, "not a well-formed JWT") {
			t.Errorf("%s %s with a bad token: HTTP %d %s, want 401", method, me, code, body)
		}
	}
	if _, err := env.public.GetMyNotificationSettings(t.Context(), &awardsv1.GetMyNotificationSettingsRequest{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("Connect GetMyNotificationSettings without a token: %v, want Unauthenticated", err)
	}
	if _, err := env.public.UpdateMyNotificationSettings(t.Context(), &awardsv1.UpdateMyNotificationSettingsRequest{
		Settings: &awardsv1.NotificationSettings{Mode: "none"}}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("Connect UpdateMyNotificationSettings without a token: %v, want Unauthenticated", err)
	}

	// A bad mode: 400 / InvalidArgument naming the field and the modes.
	for _, bad := range []string{`{}`, `{"mode":"quiet"}`} {
		code, body = rest(t, http.MethodPut, me, token(t, "alice"), bad)
		if code != http.StatusBadRequest || !strings.Contains(body, "settings.mode") || !strings.Contains(body, "no_announcements") {
			t.Errorf("PUT %s %s: HTTP %d %s, want 400 naming settings.mode and the modes", me, bad, code, body)
		}
	}
	if _, err := env.public.UpdateMyNotificationSettings(asUser(t, "alice"), &awardsv1.UpdateMyNotificationSettingsRequest{}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("Connect UpdateMyNotificationSettings without settings: %v, want InvalidArgument", err)
	}

	// An operator reads and sets anyone's settings, over Connect and REST;
	// the change is recorded as theirs.
	og, err := env.admin.GetNotificationSettings(t.Context(), &awardsv1.GetNotificationSettingsRequest{UserId: "alice"})
	if err != nil || og.GetUserId() != "alice" || og.GetSettings().GetMode() != "none" || og.GetSettings().GetUpdatedBy() != "user" {
		t.Errorf("admin GetNotificationSettings(alice): %v, %v; want none, set by the user", og, err)
	}
	set, err := env.admin.SetNotificationSettings(t.Context(), &awardsv1.SetNotificationSettingsRequest{
		UserId: "alice", Settings: &awardsv1.NotificationSettings{Mode: "all"}, Actor: "support-7"})
	if err != nil || set.GetPrevious().GetMode() != "none" || set.GetSettings().GetMode() != "all" || set.GetSettings().GetUpdatedBy() != "operator support-7" {
		t.Errorf("admin SetNotificationSettings(alice, all): %v, %v; want previous none, now all by operator support-7", set, err)
	}
	code, body = rest(t, http.MethodPut, env.url+"/v1/admin/users/carol/notification-settings", adminToken, `{"settings":{"mode":"no_announcements"},"actor":"support-7"}`)
	if code != http.StatusOK || !strings.Contains(body, `"mode":"no_announcements"`) || !strings.Contains(body, `"previous":{"mode":"all"`) {
		t.Errorf("admin REST PUT carol: HTTP %d %s, want previous all, now no_announcements", code, body)
	}
	code, body = rest(t, http.MethodGet, env.url+"/v1/admin/users/carol/notification-settings", adminToken, "")
	if code != http.StatusOK || !strings.Contains(body, `"mode":"no_announcements"`) || !strings.Contains(body, `"updatedBy":"operator support-7"`) {
		t.Errorf("admin REST GET carol: HTTP %d %s, want no_announcements by operator support-7", code, body)
	}
	got, err = env.public.GetMyNotificationSettings(asUser(t, "carol"), &awardsv1.GetMyNotificationSettingsRequest{})
	if err != nil || got.GetSettings().GetMode() != "no_announcements" {
		t.Errorf("carol's own view after the operator's change: %v, %v", got, err)
	}
	for _, tc := range []struct {
		req  *awardsv1.SetNotificationSettingsRequest
		want string
	}{
		{&awardsv1.SetNotificationSettingsRequest{UserId: "carol", Settings: &awardsv1.NotificationSettings{Mode: "none"}}, "actor are required"},
		{&awardsv1.SetNotificationSettingsRequest{UserId: "carol", Actor: "op"}, "settings.mode is required"},
		{&awardsv1.SetNotificationSettingsRequest{UserId: "carol", Actor: "op", Settings: &awardsv1.NotificationSettings{Mode: "off"}}, `settings.mode is "off"`},
		{&awardsv1.SetNotificationSettingsRequest{UserId: "a\x01b", Actor: "op", Settings: &awardsv1.NotificationSettings{Mode: "none"}}, "user_id holds the control character"},
	} {
		if _, err := env.admin.SetNotificationSettings(t.Context(), tc.req); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetNotificationSettings(%v): %v, want InvalidArgument saying %q", tc.req, err, tc.want)
		}
	}
	if _, err := env.admin.GetNotificationSettings(t.Context(), &awardsv1.GetNotificationSettingsRequest{}); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("GetNotificationSettings without user_id: %v, want InvalidArgument", err)
	}
}

// TestNotifierHonoursOptOuts: a user who opted out of everything gets
// nothing, one who opted out of announcements gets grants but not
// announcements addressed to them; the deliveries not sent are recorded as
// skipped with the reason (listed by the admin API, counted in the
// metric), and broadcast announcements still go out. A user who opts out
// while a notification waits for a retry does not get it either.
func TestNotifierHonoursOptOuts(t *testing.T) {
	env := newSettingsEnv(t)
	b := bustest.New(t)
	// quiet opts out of everything over REST, noann of announcements over
	// Connect, loud keeps the default.
	if code, body := rest(t, http.MethodPut, env.url+"/v1/me/notification-settings", token(t, "quiet"), `{"mode":"none"}`); code != http.StatusOK {
		t.Fatalf("quiet's opt-out: HTTP %d %s", code, body)
	}
	if _, err := env.public.UpdateMyNotificationSettings(asUser(t, "noann"), &awardsv1.UpdateMyNotificationSettingsRequest{
		Settings: &awardsv1.NotificationSettings{Mode: "no_announcements"}}); err != nil {
		t.Fatal(err)
	}
	grantNavigators(t, env.engineEnv, "quiet", "noann", "loud")
	// Announcements are broadcast (no user); one addressed to a user is
	// what the settings hold back. The service writes none today, so the
	// test writes them as such a writer would.
	if _, err := env.pool.Exec(t.Context(), `
		INSERT INTO awards.outbox (kind, user_id, achievement_id, goal)
		SELECT 'announced', u, 'local-guide', 15 FROM unnest(array['quiet', 'noann', 'loud']) u`); err != nil {
		t.Fatal(err)
	}
	broadcast := outboxIDs(t, env.engineEnv, "kind = 'announced' AND user_id = ''")
	if len(broadcast) == 0 {
		t.Fatal("no broadcast announcement of the starter achievements")
	}

	hook := newWebhookReceiver(t)
	n := awards.NewNotifier(env.store, fastNotifier(awards.NotifierConfig{WebhookURL: hook.URL, JetStream: b.JetStream()}))
	stop := runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env.engineEnv) })
	stop()

	hook.mu.Lock()
	var got []string
	for _, m := range hook.messages {
		if m.UserID != "" {
			got = append(got, m.Kind+" "+m.UserID+" "+m.AchievementID)
		}
	}
	broadcastSent := 0
	for _, id := range broadcast {
		broadcastSent += hook.accepted[id]
	}
	hook.mu.Unlock()
	sort.Strings(got)
	want := []string{"announced loud local-guide", "granted loud navigator-10km", "granted noann navigator-10km"}
	if !slices.Equal(got, want) {
		t.Errorf("the webhook got %v, want %v", got, want)
	}
	if broadcastSent != len(broadcast) {
		t.Errorf("%d of %d broadcast announcements reached the webhook, want every one", broadcastSent, len(broadcast))
	}
	perID, _ := awardsStream(t, b)
	for _, id := range outboxIDs(t, env.engineEnv, "user_id IN ('quiet') OR (user_id = 'noann' AND kind = 'announced')") {
		if perID[id] != 0 {
			t.Errorf("notification %s of a user who opted out is on the bus", id)
		}
	}

	// The admin API lists the skipped ones with the reason.
	resp, err := env.admin.ListNotifications(t.Context(), &awardsv1.ListNotificationsRequest{State: "skipped"})
	if err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, s := range resp.GetNotifications() {
		skipped = append(skipped, fmt.Sprintf("%s %s: %s (%d attempts)", s.GetKind(), s.GetUserId(), s.GetLastError(), s.GetAttempts()))
	}
	sort.Strings(skipped)
	wantSkipped := []string{
		"announced noann: the user opted out of announcements (0 attempts)",
		"announced quiet: the user opted out of award notifications (0 attempts)",
		"granted quiet: the user opted out of award notifications (0 attempts)",
	}
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("skipped notifications listed:\n\t%s\nwant:\n\t%s", strings.Join(skipped, "\n\t"), strings.Join(wantSkipped, "\n\t"))
	}
	for _, ch := range []string{awards.ChannelWebhook, awards.ChannelBus} {
		if v := counterValue(t, n, "clickstream_awards_notifications_skipped_total", ch); v != 3 {
			t.Errorf("notifications_skipped_total{channel=%q} = %v, want 3", ch, v)
		}
	}
	t.Logf("webhook got %d user notifications and %d broadcasts; %d skipped, listed and counted", len(got), broadcastSent, len(skipped))

	// late is granted while the webhook is down; an operator opts them out
	// before the retry: the waiting delivery is skipped, not sent.
	hook.mu.Lock()
	hook.failAll = true
	hook.mu.Unlock()
	grantNavigators(t, env.engineEnv, "late")
	lateID := outboxIDs(t, env.engineEnv, "user_id = 'late'")
	if len(lateID) != 1 {
		t.Fatalf("late's outbox rows: %v, want one grant", lateID)
	}
	res, err := n.Cycle(t.Context())
	if err != nil || res.Enqueued != 1 || res.Failed == 0 {
		t.Fatalf("cycle with the webhook down: %+v, %v; want late's grant enqueued and a failed attempt", res, err)
	}
	if _, err := env.admin.SetNotificationSettings(t.Context(), &awardsv1.SetNotificationSettingsRequest{
		UserId: "late", Settings: &awardsv1.NotificationSettings{Mode: "none"}, Actor: "support-7"}); err != nil {
		t.Fatal(err)
	}
	hook.mu.Lock()
	hook.failAll = false
	hook.mu.Unlock()
	stop = runNotifier(t, n)
	waitFor(t, func() bool { return allFinished(t, env.engineEnv) })
	stop()
	_, accepted, attempts, _ := hook.snapshot()
	if accepted[lateID[0]] != 0 {
		t.Errorf("late's grant was delivered %d times after late opted out", accepted[lateID[0]])
	}
	listed, err := env.store.ListNotifications(t.Context(), awards.NotificationFilter{State: awards.DeliverySkipped})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range listed {
		if strconv.FormatInt(l.ID, 10) == lateID[0] {
			found = l.LastError == "the user opted out of award notifications" && l.Attempts == attempts[lateID[0]]
			t.Logf("late's grant: %s after %d failed attempt(s): %s", l.State, l.Attempts, l.LastError)
		}
	}
	if !found {
		t.Errorf("late's grant is not listed as skipped with its failed attempts (%d) and the reason: %+v", attempts[lateID[0]], listed)
	}
}
