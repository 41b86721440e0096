package awards_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// testSecret signs the user tokens the test servers accept.
var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// token returns a valid token for user.
func token(t testing.TB, user string) string {
	t.Helper()
	tok, err := awards.SignDevToken(testSecret, user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// newPublicAPI returns the public API over store, accepting tokens signed
// with testSecret.
func newPublicAPI(t testing.TB, store awards.PublicStore) *awards.PublicAPI {
	t.Helper()
	v, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return awards.NewPublicAPI(store, v)
}

// withBearer is a context carrying "authorization: <value>" as the REST
// gateway passes it, for calling the API directly.
func withBearer(ctx context.Context, tok string) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+tok))
}

// publicServer is the awards server as the stack builds it, with the
// clients of every protocol.
type publicServer struct {
	url     string
	grpc    awardsv1.AwardsServiceClient
	connect awardsv1connect.AwardsServiceClient
	grpcWeb awardsv1connect.AwardsServiceClient
	http    *http.Client
}

func startPublicServer(t *testing.T, api *awards.PublicAPI) *publicServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", Logger: quiet}, awards.Routes(awards.RoutesConfig{}, api, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cTransport := &http.Transport{Protocols: &h2c}
	h1Transport := &http.Transport{}
	t.Cleanup(h2cTransport.CloseIdleConnections)
	t.Cleanup(h1Transport.CloseIdleConnections)
	h1 := &http.Client{Transport: h1Transport, Timeout: 10 * time.Second}
	return &publicServer{
		url:     srv.URL(),
		grpc:    awardsv1.NewAwardsServiceClient(conn),
		connect: awardsv1connect.NewAwardsServiceClient(h1, srv.URL()),
		grpcWeb: awardsv1connect.NewAwardsServiceClient(&http.Client{Transport: h2cTransport, Timeout: 10 * time.Second}, srv.URL(), connect.WithGRPCWeb()),
		http:    h1,
	}
}

// rest GETs path with the Authorization header (if not empty) and returns
// the status and body.
func (s *publicServer) rest(t *testing.T, path, authorization string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// protocolCall is ListMyAchievements over one protocol with an
// Authorization header value ("" for none); it returns the response or
// the error's code and message.
type protocolCall func(t *testing.T, authorization string) (*awardsv1.ListMyAchievementsResponse, connect.Code, string)

func (s *publicServer) protocols() map[string]protocolCall {
	viaConnect := func(c awardsv1connect.AwardsServiceClient) protocolCall {
		return func(t *testing.T, authorization string) (*awardsv1.ListMyAchievementsResponse, connect.Code, string) {
			ctx, info := connect.NewClientContext(t.Context())
			if authorization != "" {
				info.RequestHeader().Set("Authorization", authorization)
			}
			resp, err := c.ListMyAchievements(ctx, &awardsv1.ListMyAchievementsRequest{PageSize: 200})
			if err != nil {
				var cerr *connect.Error
				if !errors.As(err, &cerr) {
					t.Fatalf("not a connect error: %v", err)
				}
				return nil, cerr.Code(), cerr.Message()
			}
			return resp, 0, ""
		}
	}
	return map[string]protocolCall{
		"rest": func(t *testing.T, authorization string) (*awardsv1.ListMyAchievementsResponse, connect.Code, string) {
			code, body := s.rest(t, "/v1/me/achievements?page_size=200", authorization)
			if code != http.StatusOK {
				var e struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatalf("HTTP %d, body %s: %v", code, body, err)
				}
				if code != http.StatusUnauthorized {
					t.Errorf("HTTP %d %s, want 200 or 401", code, body)
				}
				return nil, connect.Code(e.Code), e.Message
			}
			resp := &awardsv1.ListMyAchievementsResponse{}
			if err := protojson.Unmarshal(body, resp); err != nil {
				t.Fatalf("REST body %s: %v", body, err)
			}
			return resp, 0, ""
		},
		"grpc (grpc-go)": func(t *testing.T, authorization string) (*awardsv1.ListMyAchievementsResponse, connect.Code, string) {
			ctx := t.Context()
			if authorization != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
			}
			resp, err := s.grpc.ListMyAchievements(ctx, &awardsv1.ListMyAchievementsRequest{PageSize: 200})
			if err != nil {
				st := status.Convert(err)
				return nil, connect.Code(st.Code()), st.Message()
			}
			return resp, 0, ""
		},
		"connect":  viaConnect(s.connect),
		"grpc-web": viaConnect(s.grpcWeb),
	}
}

// TestPublicAPIProtocols: the caller's achievements are the same over REST,
// gRPC (grpc-go), Connect and gRPC-Web, and equal the public profile.
func TestPublicAPIProtocols(t *testing.T) {
	env := newEngineEnv(t)
	env.apply(t,
		reviewRecord("u1", "r1", "theatre-1", active, 40),
		photoRecord("u1", "p1", active),
		photoRecord("u1", "p2", active),
		tripRecord("u1", "t1", 2500),
		tripRecord("u1", "t2", 1500),
		photoRecord("u2", "p9", active),
	)
	srv := startPublicServer(t, newPublicAPI(t, env.store))
	bearer := "Bearer " + token(t, "u1")

	var first *awardsv1.ListMyAchievementsResponse
	for _, name := range []string{"rest", "grpc (grpc-go)", "connect", "grpc-web"} {
		resp, code, msg := srv.protocols()[name](t, bearer)
		if resp == nil {
			t.Fatalf("%s: %v %s", name, code, msg)
		}
		if first == nil {
			first = resp
			continue
		}
		if !proto.Equal(first, resp) {
			t.Errorf("%s differs from REST:\n%v\nREST:\n%v", name, resp, first)
		}
	}
	if first.GetUserId() != "u1" || first.GetNextPageToken() != "" {
		t.Errorf("user %q, next page %q; want u1 and no next page", first.GetUserId(), first.GetNextPageToken())
	}
	checkU1(t, first.GetAchievements())

	// The public profile shows the same.
	code, body := srv.rest(t, "/v1/users/u1/achievements?page_size=200", "")
	profile := &awardsv1.ListUserAchievementsResponse{}
	if err := protojson.Unmarshal(body, profile); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/users/u1/achievements: HTTP %d %s (%v)", code, body, err)
	}
	if !slices.EqualFunc(profile.GetAchievements(), first.GetAchievements(), func(a, b *awardsv1.UserAchievement) bool { return proto.Equal(a, b) }) {
		t.Errorf("profile of u1 differs from u1's own list:\n%v\n%v", profile.GetAchievements(), first.GetAchievements())
	}
	grpcProfile, err := srv.grpc.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1", PageSize: 200})
	if err != nil || !proto.Equal(grpcProfile, profile) {
		t.Errorf("gRPC profile differs from REST (%v):\n%v\n%v", err, grpcProfile, profile)
	}

	// Another user's token sees that user's progress.
	resp, _, msg := srv.protocols()["grpc (grpc-go)"](t, "Bearer "+token(t, "u2"))
	if resp.GetUserId() != "u2" {
		t.Fatalf("u2: %s", msg)
	}
	for _, ua := range resp.GetAchievements() {
		if id := ua.GetAchievement().GetId(); id == "reviews-or-photos" && ua.GetProgress() != 1 {
			t.Errorf("u2 %s progress %g, want 1", id, ua.GetProgress())
		}
	}
}

// checkU1 checks u1's achievements after 1 short review, 2 photos and
// 4 km with the navigator, from the starter achievements.
func checkU1(t *testing.T, list []*awardsv1.UserAchievement) {
	t.Helper()
	byID := map[string]*awardsv1.UserAchievement{}
	var ids []string
	for _, ua := range list {
		byID[ua.GetAchievement().GetId()] = ua
		ids = append(ids, ua.GetAchievement().GetId())
	}
	if want := []string{"local-guide", "navigator-10km", "photos-and-reviews", "reviews-or-photos", "thoughtful-reviewer"}; !slices.Equal(ids, want) {
		t.Fatalf("achievements %v, want %v", ids, want)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	lg := byID["local-guide"]
	a := lg.GetAchievement()
	if a.GetTitle() != "Local guide" || a.GetGoal() != 15 || a.GetPolicy() != "revocable" || !slices.Equal(a.GetObjectives(), []string{"photo", "reviews", "navi"}) {
		t.Errorf("local-guide achievement = %v", a)
	}
	if !near(lg.GetProgress(), 7) || lg.GetCompleted() || lg.GetCompletedAt() != nil || lg.GetStartedAt() == nil ||
		lg.GetPercent() != 46.67 || lg.GetRemaining() != 8 {
		t.Errorf("local-guide: progress %g percent %g remaining %g completed %v started %v; want 7, 46.67, 8, not completed, started",
			lg.GetProgress(), lg.GetPercent(), lg.GetRemaining(), lg.GetCompleted(), lg.GetStartedAt())
	}
	objectives := map[string]*awardsv1.ObjectiveProgress{}
	var keys []string
	for _, o := range lg.GetObjectives() {
		objectives[o.GetKey()] = o
		keys = append(keys, o.GetKey())
	}
	if !slices.Equal(keys, []string{"photo", "reviews", "navi"}) {
		t.Fatalf("local-guide objectives %v, want photo, reviews, navi", keys)
	}
	if o := objectives["photo"]; o.GetProgress() != 2 || fmt.Sprint(o.GetCounters()) != "map[active:2]" {
		t.Errorf("photo objective = %v, want progress 2, counters {active: 2}", o)
	}
	if o := objectives["reviews"]; o.GetProgress() != 1 || fmt.Sprint(o.GetCounters()) != "map[active:1]" {
		t.Errorf("reviews objective = %v, want progress 1, counters {active: 1}", o)
	}
	if o := objectives["navi"]; o.GetProgress() != 4000 || len(o.GetCounters()) == 0 {
		t.Errorf("navi objective = %v, want progress 4000 m with its counters", o)
	}

	rp := byID["reviews-or-photos"]
	if !rp.GetCompleted() || rp.GetCompletedAt() == nil || rp.GetPercent() != 100 || rp.GetRemaining() != 0 || rp.GetProgress() != 3 {
		t.Errorf("reviews-or-photos = %v, want completed: progress 3, 100%%, nothing remaining", rp)
	}
	// The 40-character review does not count here: no progress, every
	// objective listed at zero.
	tr := byID["thoughtful-reviewer"]
	if tr.GetProgress() != 0 || tr.GetPercent() != 0 || tr.GetRemaining() != 5 || len(tr.GetObjectives()) != 1 ||
		tr.GetObjectives()[0].GetProgress() != 0 || len(tr.GetObjectives()[0].GetCounters()) != 0 {
		t.Errorf("thoughtful-reviewer = %v, want nothing done, 5 remaining, the reviews objective at 0", tr)
	}
}

// TestListMyAchievementsRefusesTokens: every protocol refuses a call
// without a valid token with Unauthenticated (HTTP 401) and says why.
func TestListMyAchievementsRefusesTokens(t *testing.T) {
	store, _ := newStore(t)
	upsert(t, store, awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Goal: 15, Active: true})
	srv := startPublicServer(t, newPublicAPI(t, store))

	now := time.Now()
	signed := func(method jwt.SigningMethod, key any, claims jwt.Claims) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired, err := awards.SignDevToken(testSecret, "u1", time.Hour, now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := awards.SignDevToken([]byte("another-secret-of-at-least-32-bytes!"), "u1", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	exp := jwt.NewNumericDate(now.Add(time.Hour))
	tests := []struct {
		name, authorization, want string
	}{
		{"no token", "", "no bearer token"},
		{"basic auth", "Basic dTE6cGFzc3dvcmQ=", "not a bearer token"},
		{"empty bearer", "Bearer ", "not a bearer token"},
		{"expired", "Bearer " + expired, "expired at"},
		{"another secret", "Bearer " + otherSecret, "signature is not valid"},
		{"no sub", "Bearer " + signed(jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{ExpiresAt: exp}), "no sub claim"},
		{"no exp", "Bearer " + signed(jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "u1"}), "no exp claim"},
		{"alg none", "Bearer " + signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.RegisteredClaims{Subject: "u1", ExpiresAt: exp}), "only HS256"},
		{"HS512", "Bearer " + signed(jwt.SigningMethodHS512, testSecret, jwt.RegisteredClaims{Subject: "u1", ExpiresAt: exp}), "only HS256"},
		{"not a JWT", "Bearer not-a-jwt", "not a well-formed JWT"},
	}
	for name, call := range srv.protocols() {
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				resp, code, msg := call(t, tc.authorization)
				if resp != nil || code != connect.CodeUnauthenticated || !strings.Contains(msg, tc.want) {
					t.Errorf("got %v, %v %q; want Unauthenticated saying %q", resp, code, msg, tc.want)
				}
			})
		}
	}
	// The same server takes a valid token.
	resp, code, msg := srv.protocols()["rest"](t, "bearer "+token(t, "u1"))
	if resp.GetUserId() != "u1" || len(resp.GetAchievements()) != 1 {
		t.Errorf("valid token: %v (%v %s), want u1's one achievement", resp, code, msg)
	}
}

func TestListMyAchievementsWithoutVerifier(t *testing.T) {
	store, _ := newStore(t)
	_, err := awards.NewPublicAPI(store, nil).ListMyAchievements(withBearer(t.Context(), token(t, "u1")), &awardsv1.ListMyAchievementsRequest{})
	if connect.CodeOf(err) != connect.CodeUnimplemented || !strings.Contains(err.Error(), "--awards-jwt-secret") {
		t.Errorf("no verifier configured: %v, want Unimplemented naming the flag", err)
	}
}

// TestInactiveUsers: banned and deleted users have no public profile, and
// their own tokens are refused.
func TestInactiveUsers(t *testing.T) {
	store, pool := newStore(t)
	upsert(t, store, awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Goal: 15, Active: true})
	if _, err := pool.Exec(t.Context(), `INSERT INTO awards.users (user_id, status) VALUES
		('banned', 'banned'), ('gone', 'deleted'), ('back', 'active')`); err != nil {
		t.Fatal(err)
	}
	api := newPublicAPI(t, store)
	for _, tc := range []struct {
		user string
		code connect.Code
		want string
	}{
		{"banned", connect.CodeNotFound, "only active users"},
		{"gone", connect.CodeNotFound, "only active users"},
		{"back", 0, ""},
		{"never-seen", connect.CodeNotFound, `user "never-seen" is not known here`},
	} {
		resp, err := api.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: tc.user})
		switch {
		case tc.code == 0 && (err != nil || len(resp.GetAchievements()) != 1 || resp.GetUserId() != tc.user):
			t.Errorf("%s: %v, %v; want the one achievement", tc.user, resp, err)
		case tc.code != 0 && (connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v (%v), want %v saying %q", tc.user, err, connect.CodeOf(err), tc.code, tc.want)
		}
	}
	_, err := api.ListMyAchievements(withBearer(t.Context(), token(t, "banned")), &awardsv1.ListMyAchievementsRequest{})
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), `user "banned" is banned`) {
		t.Errorf("banned user's own list: %v, want PermissionDenied", err)
	}

	// Over REST a banned user's profile is 404.
	srv := startPublicServer(t, api)
	if code, body := srv.rest(t, "/v1/users/banned/achievements", ""); code != http.StatusNotFound {
		t.Errorf("GET /v1/users/banned/achievements: HTTP %d %s, want 404", code, body)
	}
	if _, err := srv.grpc.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "gone"}); connect.Code(status.Code(err)) != connect.CodeNotFound {
		t.Errorf("gRPC profile of a deleted user: %v, want NotFound", err)
	}
}

// TestPagination walks every list page by page: each active achievement
// exactly once, in order, and an empty next_page_token at the end.
func TestPagination(t *testing.T) {
	store, pool := newStore(t)
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO awards.achievements (id, title, goal, active)
		SELECT format('a-%s', lpad(i::text, 3, '0')), 'Achievement ' || i, i, i <> 77
		FROM generate_series(1, 230) i`); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 1; i <= 230; i++ {
		if i != 77 {
			want = append(want, fmt.Sprintf("a-%03d", i))
		}
	}
	insertProgress(t, pool, "u1", "a-100", 50, time.Now(), nil)
	api := newPublicAPI(t, store)
	ctx := withBearer(t.Context(), token(t, "u1"))

	lists := map[string]func(size int32, tok string) ([]string, string, error){
		"ListAchievements": func(size int32, tok string) ([]string, string, error) {
			resp, err := api.ListAchievements(ctx, &awardsv1.ListAchievementsRequest{PageSize: size, PageToken: tok})
			var ids []string
			for _, a := range resp.GetAchievements() {
				ids = append(ids, a.GetId())
			}
			return ids, resp.GetNextPageToken(), err
		},
		"ListUserAchievements": func(size int32, tok string) ([]string, string, error) {
			resp, err := api.ListUserAchievements(ctx, &awardsv1.ListUserAchievementsRequest{UserId: "u1", PageSize: size, PageToken: tok})
			var ids []string
			for _, ua := range resp.GetAchievements() {
				ids = append(ids, ua.GetAchievement().GetId())
				if ua.GetAchievement().GetId() == "a-100" && ua.GetProgress() != 50 {
					t.Errorf("a-100 progress %g, want 50", ua.GetProgress())
				}
			}
			return ids, resp.GetNextPageToken(), err
		},
		"ListMyAchievements": func(size int32, tok string) ([]string, string, error) {
			resp, err := api.ListMyAchievements(ctx, &awardsv1.ListMyAchievementsRequest{PageSize: size, PageToken: tok})
			var ids []string
			for _, ua := range resp.GetAchievements() {
				ids = append(ids, ua.GetAchievement().GetId())
			}
			return ids, resp.GetNextPageToken(), err
		},
	}
	for name, list := range lists {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int32{1, 37, 229, 1000} {
				var got []string
				tok, pages := "", 0
				for {
					ids, next, err := list(size, tok)
					if err != nil {
						t.Fatalf("page size %d, page %d: %v", size, pages+1, err)
					}
					if len(ids) > min(int(size), 200) {
						t.Fatalf("page size %d: a page of %d", size, len(ids))
					}
					got = append(got, ids...)
					pages++
					if next == "" {
						break
					}
					tok = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("page size %d: walked %d achievements (%v…), want each of the %d once in order", size, len(got), got[:min(len(got), 5)], len(want))
				}
				if wantPages := (len(want) + min(int(size), 200) - 1) / min(int(size), 200); pages != wantPages {
					t.Errorf("page size %d: %d pages, want %d", size, pages, wantPages)
				}
			}
			ids, next, err := list(0, "")
			if err != nil || len(ids) != 50 || next == "" {
				t.Errorf("default page: %d achievements, next %q, %v; want 50 and a next page", len(ids), next, err)
			}
			if _, _, err := list(-1, ""); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "page_size") {
				t.Errorf("page_size -1: %v, want InvalidArgument about page_size", err)
			}
			for _, bad := range []string{"garbage!", "YTE6", awards.EncodePageTokenForTest("")} {
				if _, _, err := list(10, bad); connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "page_token") {
					t.Errorf("page_token %q: %v, want InvalidArgument about page_token", bad, err)
				}
			}
		})
	}
}

func TestListAchievementsCatalogue(t *testing.T) {
	store, _ := newStore(t)
	if err := loadStarter(t, store); err != nil {
		t.Fatal(err)
	}
	srv := startPublicServer(t, newPublicAPI(t, store))
	code, body := srv.rest(t, "/v1/achievements", "")
	resp := &awardsv1.ListAchievementsResponse{}
	if err := protojson.Unmarshal(body, resp); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/achievements: HTTP %d %s (%v)", code, body, err)
	}
	var got []string
	for _, a := range resp.GetAchievements() {
		got = append(got, fmt.Sprintf("%s %s goal %g %v", a.GetId(), a.GetPolicy(), a.GetGoal(), a.GetObjectives()))
	}
	want := []string{
		"local-guide revocable goal 15 [photo reviews navi]",
		"navigator-10km sticky goal 10 [navi]",
		"photos-and-reviews revocable goal 10 [photo reviews]",
		"reviews-or-photos sticky goal 3 [reviews photo]",
		"thoughtful-reviewer sticky goal 5 [reviews]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("catalogue:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	grpcResp, err := srv.grpc.ListAchievements(t.Context(), &awardsv1.ListAchievementsRequest{})
	if err != nil || !proto.Equal(grpcResp, resp) {
		t.Errorf("gRPC catalogue differs from REST (%v)", err)
	}
}

func TestListUserAchievements(t *testing.T) {
	store, pool := newStore(t)
	upsert(t, store,
		awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Description: "Cafes.", ImageURL: "https://img/cafe.png", Goal: 15, Active: true},
		awards.Achievement{ID: "map-keeper", Title: "Map keeper", Description: "Hours.", ImageURL: "https://img/map.png", Goal: 5, Active: true},
		awards.Achievement{ID: "theatre-critic", Title: "Theatre critic", Goal: 10, Active: true},
	)
	started := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	completed := time.Date(2024, 3, 9, 18, 45, 30, 0, time.UTC)
	insertProgress(t, pool, "u1", "cafe-expert", 7.5, started, nil)
	insertProgress(t, pool, "u1", "map-keeper", 5, started.Add(time.Minute), &completed)

	resp, err := newPublicAPI(t, store).ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.GetAchievements()
	if len(got) != 3 || resp.GetUserId() != "u1" || resp.GetNextPageToken() != "" {
		t.Fatalf("%d achievements of %q (next %q), want 3 of u1 on one page: %v", len(got), resp.GetUserId(), resp.GetNextPageToken(), got)
	}

	cafe := got[0]
	if a := cafe.GetAchievement(); a.GetId() != "cafe-expert" || a.GetTitle() != "Cafe expert" || a.GetDescription() != "Cafes." ||
		a.GetImageUrl() != "https://img/cafe.png" || a.GetGoal() != 15 || a.GetPolicy() != "sticky" {
		t.Errorf("achievement = %v, want cafe-expert with its metadata", a)
	}
	if cafe.GetProgress() != 7.5 || cafe.GetCompleted() || cafe.GetCompletedAt() != nil || !cafe.GetStartedAt().AsTime().Equal(started) ||
		cafe.GetPercent() != 50 || cafe.GetRemaining() != 7.5 {
		t.Errorf("cafe-expert: progress %g (%g%%, %g remaining), completed %v at %v, started %v; want 7.5 (50%%, 7.5), not completed, started %v",
			cafe.GetProgress(), cafe.GetPercent(), cafe.GetRemaining(), cafe.GetCompleted(), cafe.GetCompletedAt(), cafe.GetStartedAt(), started)
	}

	mapKeeper := got[1]
	if mapKeeper.GetAchievement().GetId() != "map-keeper" || mapKeeper.GetProgress() != 5 || !mapKeeper.GetCompleted() ||
		!mapKeeper.GetCompletedAt().AsTime().Equal(completed) || !mapKeeper.GetStartedAt().AsTime().Equal(started.Add(time.Minute)) ||
		mapKeeper.GetPercent() != 100 || mapKeeper.GetRemaining() != 0 {
		t.Errorf("map-keeper = %v, want progress 5 (100%%), completed at %v, started %v", mapKeeper, completed, started.Add(time.Minute))
	}

	theatre := got[2]
	if theatre.GetAchievement().GetId() != "theatre-critic" || theatre.GetProgress() != 0 || theatre.GetCompleted() ||
		theatre.GetStartedAt() != nil || theatre.GetCompletedAt() != nil || theatre.GetRemaining() != 10 || theatre.GetPercent() != 0 {
		t.Errorf("theatre-critic = %v, want not started: no progress, no timestamps, 10 remaining", theatre)
	}
}

func TestListUserAchievementsErrors(t *testing.T) {
	store, pool := newStore(t)
	api := newPublicAPI(t, store)

	_, err := api.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "user_id is required") {
		t.Errorf("empty user_id: %v (%v), want InvalidArgument saying user_id is required", err, connect.CodeOf(err))
	}

	pool.Close()
	_, err = api.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "closed pool") {
		t.Errorf("store failure: %v (%v), want Internal without storage details", err, connect.CodeOf(err))
	}
}

// loadStarter saves the starter achievements.
func loadStarter(t *testing.T, store *awards.PostgresStore) error {
	t.Helper()
	_, err := awards.NewEngine(awards.EngineConfig{Store: store, Schemas: schemas, Logger: quiet}).ApplyFile(t.Context(), awards.StarterAchievements(), "test")
	return err
}

// TestPublicProfileUserIDs: a blank or malformed user id is 400 /
// InvalidArgument naming user_id, a user the service never saw 404 /
// NotFound, over Connect and REST alike.
func TestPublicProfileUserIDs(t *testing.T) {
	store, pool := newStore(t)
	upsert(t, store, awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Goal: 15, Active: true})
	insertProgress(t, pool, "known", "cafe-expert", 3, time.Now(), nil)
	srv := startPublicServer(t, newPublicAPI(t, store))
	long := strings.Repeat("u", 300)
	tests := []struct {
		name, userID, path string // path "" when REST cannot carry the id
		code               connect.Code
		want               string
	}{
		{"known", "known", "known", 0, ""},
		{"never seen", "nobody", "nobody", connect.CodeNotFound, `is not known here`},
		{"empty", "", "", connect.CodeInvalidArgument, "user_id is required"},
		{"blank", "  ", "%20%20", connect.CodeInvalidArgument, "user_id is required"},
		{"too long", long, long, connect.CodeInvalidArgument, "user_id has 300 bytes"},
		{"control character", "a\x01b", "a%01b", connect.CodeInvalidArgument, "control character U+0001"},
		{"NUL", "a\x00b", "a%00b", connect.CodeInvalidArgument, "user_id"},
		{"invalid UTF-8", "\xff\xfe", "%ff%fe", connect.CodeInvalidArgument, "UTF-8"},
	}
	httpCode := map[connect.Code]int{0: http.StatusOK, connect.CodeNotFound: http.StatusNotFound, connect.CodeInvalidArgument: http.StatusBadRequest}
	for _, tc := range tests {
		t.Run("connect/"+tc.name, func(t *testing.T) {
			var code connect.Code
			var msg string
			if utf8.ValidString(tc.userID) {
				_, err := srv.connect.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: tc.userID})
				if err != nil {
					code, msg = connect.CodeOf(err), err.Error()
				}
			} else {
				// A generated client cannot marshal invalid UTF-8: send the
				// protobuf bytes by hand (field 1, length 2).
				code, msg = rawConnectCall(t, srv.url, append([]byte{0x0a, byte(len(tc.userID))}, tc.userID...))
			}
			if code != tc.code || (tc.want != "" && !strings.Contains(msg, tc.want)) {
				t.Errorf("user_id %q: %v %s, want %v saying %q", tc.userID, code, msg, tc.code, tc.want)
			}
		})
		if tc.path == "" {
			continue
		}
		t.Run("rest/"+tc.name, func(t *testing.T) {
			code, body := srv.rest(t, "/v1/users/"+tc.path+"/achievements", "")
			if code != httpCode[tc.code] || (tc.want != "" && !strings.Contains(string(body), tc.want)) {
				t.Errorf("GET /v1/users/%s/achievements: HTTP %d %s, want %d saying %q", tc.path, code, body, httpCode[tc.code], tc.want)
			}
		})
	}
}

// rawConnectCall posts a binary protobuf ListUserAchievements request over
// the Connect protocol and returns the error's code and message (0, "" on
// success).
func rawConnectCall(t *testing.T, url string, body []byte) (connect.Code, string) {
	t.Helper()
	resp, err := http.Post(url+"/"+awardsv1connect.AwardsServiceName+"/ListUserAchievements", "application/proto", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return 0, ""
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("HTTP %d %s: %v", resp.StatusCode, data, err)
	}
	var code connect.Code
	if err := code.UnmarshalText([]byte(e.Code)); err != nil {
		t.Fatalf("code %q: %v", e.Code, err)
	}
	return code, e.Message
}

// TestProgressFiguresCarryNoFloatNoise: remaining and percent are rounded,
// so 15 − 8.098 reads 6.902 (not 6.901999999999999) on every protocol.
func TestProgressFiguresCarryNoFloatNoise(t *testing.T) {
	store, pool := newStore(t)
	upsert(t, store, awards.Achievement{ID: "cafe-expert", Title: "Cafe expert", Goal: 15, Active: true})
	insertProgress(t, pool, "u1", "cafe-expert", 8.098, time.Now(), nil)
	srv := startPublicServer(t, newPublicAPI(t, store))
	resp, err := srv.connect.ListUserAchievements(t.Context(), &awardsv1.ListUserAchievementsRequest{UserId: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	ua := resp.GetAchievements()[0]
	if ua.GetProgress() != 8.098 || ua.GetRemaining() != 6.902 || ua.GetPercent() != 53.99 {
		t.Errorf("Connect: progress %v, remaining %v, percent %v; want 8.098, 6.902, 53.99", ua.GetProgress(), ua.GetRemaining(), ua.GetPercent())
	}
	code, body := srv.rest(t, "/v1/users/u1/achievements", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"remaining":6.902,`) || !strings.Contains(string(body), `"percent":53.99,`) {
		t.Errorf("REST: HTTP %d %s, want remaining 6.902 and percent 53.99 written as such", code, body)
	}
}
