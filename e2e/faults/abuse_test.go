package faults_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	byteorder "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// The bounds the abuse suite holds `clickstream dev` to, in resident
// memory of the process (registry, ingest, awards and the embedded NATS
// together; PostgreSQL runs in processes of its own).
const (
	// abusePeakRSS is never exceeded while the probes run.
	abusePeakRSS = 512 << 20
	// abuseSettledRSS is reached again within abuseSettle after the last
	// probe.
	abuseSettledRSS = 384 << 20
	abuseSettle     = 30 * time.Second
	// bombSize is what each gzip bomb inflates to.
	bombSize = 1 << 30
	// oversized is the body each oversized request declares or streams.
	oversized = 600 << 20
)

// TestAbuse sends `clickstream dev` what an attacker would, on every
// service and protocol, and holds it to its documented answers and to its
// memory bounds: Fluent frames nested 8.6 million deep, gzip bombs
// inflating to 1 GiB and bodies of 600 MiB (declared or streamed) to the
// registry, ingest and awards on gRPC, gRPC-Web, Connect and REST,
// webhook receivers that redirect, console path tricks and JWTs with
// unknown critical headers or string times. Each probe prints its answer
// and the peak resident memory while it ran. Afterwards the process is
// alive and ready, its peak stayed under abusePeakRSS and it is back under
// abuseSettledRSS within abuseSettle.
func TestAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clickstream dev as a child process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fluentPort, consolePort := harness.FreePort(t), harness.FreePort(t)
	d := harness.NewDev(t, binary)
	d.Args = []string{"--fluent-listen", "127.0.0.1:" + strconv.Itoa(fluentPort), "--console-addr", "127.0.0.1:" + strconv.Itoa(consolePort)}
	d.Start()
	adminToken, apiKey := d.Secret("admin-token"), d.Secret("ingest-key")
	rss := watchRSS(t, d.Pid())
	t.Logf("resident memory after start: %d MiB", rss.current()>>20)

	a := &abuse{t: t, ctx: ctx, rss: rss, h1: &http.Client{Timeout: 30 * time.Second}, h2: h2cClient(), admin: adminToken}
	bomb := gzipBomb(t, bombSize)
	services := []struct {
		name, base, rpc, rest, restMethod string
		admin                             bool
	}{
		{name: "registry", base: d.RegistryURL(), rpc: "/clickstream.registry.v1.RegistryService/ListEvents", rest: "/v1/admin/schemas:push", restMethod: "POST", admin: true},
		{name: "registry admin", base: d.RegistryURL(), rpc: "/clickstream.registry.v1.RegistryAdminService/PushSchemas", admin: true},
		{name: "ingest", base: d.IngestURL(), rpc: "/clickstream.ingest.v1.IngestService/SendBatch", rest: "/v1/events:batch", restMethod: "POST"},
		{name: "ingest admin", base: d.IngestURL(), rpc: "/clickstream.ingest.v1.IngestAdminService/ListKeys", rest: "/v1/admin/keys", restMethod: "POST", admin: true},
		{name: "awards", base: d.AwardsURL(), rpc: "/clickstream.awards.v1.AwardsService/ListAchievements", rest: "/v1/admin/achievements:validate", restMethod: "POST", admin: true},
		{name: "awards admin", base: d.AwardsURL(), rpc: "/clickstream.awards.v1.AwardsAdminService/ValidateAchievement", admin: true},
	}
	for _, s := range services {
		// gzip bombs: every Connect handler refuses them while inflating.
		a.probe(s.name+" gRPC gzip bomb", s.base+s.rpc, grpcRequest(bomb, true), s.admin, wantGRPC(8))
		a.probe(s.name+" gRPC-Web gzip bomb", s.base+s.rpc, grpcWebRequest(bomb), s.admin, wantGRPC(8))
		a.probe(s.name+" Connect gzip bomb", s.base+s.rpc, connectRequest(bomb, "gzip"), s.admin, wantConnect(429, "resource_exhausted"))
		// Oversized bodies, streamed without a declared length (gRPC) or
		// declared and never sent (Connect, REST).
		a.probe(s.name+" gRPC 600 MiB message", s.base+s.rpc, grpcStream(oversized), s.admin, wantGRPC(8))
		a.raw(s.name+" Connect declared 600 MiB", s.base, s.rpc, "application/proto", map[string]string{"Connect-Protocol-Version": "1"}, s.admin, 429)
		if s.rest != "" {
			a.raw(s.name+" REST declared 600 MiB", s.base, s.rest, "application/json", nil, s.admin, 413)
			a.probe(s.name+" REST streamed 600 MiB", s.base+s.rest, restStream(s.restMethod, oversized), s.admin, wantHTTP(413))
			a.probe(s.name+" REST gzip bomb", s.base+s.rest, restGzip(s.restMethod, bomb), s.admin, wantHTTP(413))
		}
	}
	// A subscriber's ack without a token is refused before its body is
	// read (it read 200 MB before answering 401).
	a.probe("ingest REST ack streamed 600 MiB, no token", d.IngestURL()+"/v1/admin/subscriptions/x:ack", restStream("POST", oversized), false, wantHTTP(401))
	a.raw("ingest REST ack declared 600 MiB, no token", d.IngestURL(), "/v1/admin/subscriptions/x:ack", "application/json", nil, false, 413)
	for _, base := range []string{d.RegistryURL(), d.IngestURL(), d.AwardsURL()} {
		a.probe("health gRPC gzip bomb "+base, base+"/grpc.health.v1.Health/Check", grpcRequest(bomb, true), false, wantGRPC(8))
		a.probe("reflection gRPC gzip bomb "+base, base+"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", grpcRequest(bomb, true), false, wantGRPC(8))
	}

	a.fluentDeepNesting("127.0.0.1:"+strconv.Itoa(fluentPort), d)
	a.webhookRedirect(d.IngestURL(), apiKey)
	console := "http://127.0.0.1:" + strconv.Itoa(consolePort)
	for _, p := range []string{"/console/%ff", "/console/api/registry/v1/..%2fmetrics", "/console/api/ingest/v1/%2e%2e/%2e%2e/metrics",
		"/console/api/awards/v1/..%2F..%2Fclickstream.awards.v1.AwardsAdminService/ListSources", "/console/api/registry/v1//..//metrics"} {
		a.probe("console GET "+p, console+p, func(ctx context.Context, url string) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		}, false, wantHTTP(400))
	}
	secret := []byte(d.Secret("awards-jwt-secret"))
	for name, token := range map[string]string{
		"JWT with crit":  signJWT(t, secret, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}, map[string]any{"crit": []string{"x"}, "x": 1}),
		"JWT exp string": signJWT(t, secret, jwt.MapClaims{"sub": "u1", "exp": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}, nil),
	} {
		a.probe("awards "+name, d.AwardsURL()+"/v1/me/achievements", func(ctx context.Context, url string) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return req, err
		}, false, wantHTTP(401))
	}

	// Alive and ready, within bounds.
	select {
	case <-d.Exited():
		t.Fatalf("clickstream dev exited during the probes:\n%s", harness.Tail(d.LogPath, 40))
	default:
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, 20*time.Second)
	defer readyCancel()
	for _, u := range []string{d.RegistryURL(), d.IngestURL(), d.AwardsURL()} {
		if err := harness.WaitReady(readyCtx, u, d.Exited()); err != nil {
			t.Errorf("%s after the probes: %v", u, err)
		}
	}
	peak := rss.peakSince(0)
	t.Logf("%d probes, peak resident memory %d MiB (bound %d MiB)", a.probes, peak>>20, abusePeakRSS>>20)
	if peak > abusePeakRSS {
		t.Errorf("peak resident memory %d MiB, over the bound of %d MiB", peak>>20, abusePeakRSS>>20)
	}
	start := time.Now()
	settled := rss.current()
	for settled > abuseSettledRSS && time.Since(start) < abuseSettle {
		time.Sleep(500 * time.Millisecond)
		settled = rss.current()
	}
	t.Logf("resident memory %d MiB %s after the last probe (bound %d MiB within %s)", settled>>20, time.Since(start).Round(time.Second), abuseSettledRSS>>20, abuseSettle)
	if settled > abuseSettledRSS {
		t.Errorf("resident memory %d MiB after %s, over the bound of %d MiB", settled>>20, abuseSettle, abuseSettledRSS>>20)
	}
}

// abuse runs the probes of TestAbuse.
type abuse struct {
	t      *testing.T
	ctx    context.Context
	rss    *rssWatch
	h1, h2 *http.Client
	admin  string
	probes int
}

// newRequest builds a probe's request for url.
type newRequest func(ctx context.Context, url string) (*http.Request, error)

// answerCheck says what is wrong with an answer, or "".
type answerCheck func(resp *http.Response, body []byte) (answer, problem string)

// probe sends one request and checks its answer, printing the answer and
// the peak resident memory while it ran.
func (a *abuse) probe(name, url string, build newRequest, admin bool, want answerCheck) {
	a.t.Helper()
	a.probes++
	mark := a.rss.mark()
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	req, err := build(ctx, url)
	if err != nil {
		a.t.Fatalf("%s: %v", name, err)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+a.admin)
	}
	client := a.h1
	if req.ProtoMajor == 2 || strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc") && !strings.HasPrefix(req.Header.Get("Content-Type"), "application/grpc-web") {
		client = a.h2
	}
	resp, err := client.Do(req)
	if err != nil {
		a.t.Errorf("%-55s no answer: %v (peak RSS %d MiB)", name, err, a.rss.peakSince(mark)>>20)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answer, problem := want(resp, body)
	a.t.Logf("%-55s %-70.70s peak RSS %d MiB", name, answer, a.rss.peakSince(mark)>>20)
	if problem != "" {
		a.t.Errorf("%s: %s", name, problem)
	}
}

// raw sends a request declaring a body of oversized bytes, sends 64 KiB
// of it and reads the answer: the server must answer without waiting for
// the rest.
func (a *abuse) raw(name, base, path, contentType string, header map[string]string, admin bool, wantStatus int) {
	a.t.Helper()
	a.probes++
	mark := a.rss.mark()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	var head strings.Builder
	fmt.Fprintf(&head, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", path, strings.TrimPrefix(base, "http://"), contentType, oversized)
	for k, v := range header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	if admin {
		fmt.Fprintf(&head, "Authorization: Bearer %s\r\n", a.admin)
	}
	head.WriteString("\r\n")
	if _, err := conn.Write(append([]byte(head.String()), make([]byte, 64<<10)...)); err != nil {
		a.t.Errorf("%s: write: %v", name, err)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		a.t.Errorf("%-55s no answer: %v (peak RSS %d MiB)", name, err, a.rss.peakSince(mark)>>20)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answer := fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	a.t.Logf("%-55s %-70.70s peak RSS %d MiB", name, answer, a.rss.peakSince(mark)>>20)
	if resp.StatusCode != wantStatus {
		a.t.Errorf("%s: %s, want HTTP %d", name, answer, wantStatus)
	}
}

// fluentDeepNesting sends, after the shared-key handshake, a frame of
// 8.6 MB of 0x91 (arrays nested 8.6 million deep): the connection closes
// with the reason logged, and a new connection's chunk is acknowledged.
func (a *abuse) fluentDeepNesting(addr string, d *harness.Dev) {
	a.t.Helper()
	a.probes++
	mark := a.rss.mark()
	var sharedKey string
	for line := range strings.SplitSeq(d.Secret("fluent-shared-keys"), "\n") {
		if env, key, ok := strings.Cut(strings.TrimSpace(line), " "); ok && env == "dev" {
			sharedKey = key
		}
	}
	conn, dec := harness.FluentHandshake(a.t, addr, sharedKey, 20*time.Second)
	go func() { _, _ = io.Copy(conn, bytes.NewReader(bytes.Repeat([]byte{0x91}, 8_600_000))) }()
	v, err := dec.DecodeInterface()
	conn.Close()
	answer := fmt.Sprintf("closed (%v)", err)
	if err == nil {
		answer = fmt.Sprintf("answered %v", v)
		a.t.Errorf("Fluent frame nested 8.6 million deep: %s, want the connection closed", answer)
	}
	logged := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !logged; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(d.LogPath)
		logged = bytes.Contains(b, []byte("nested deeper than"))
	}
	if !logged {
		a.t.Errorf("Fluent frame nested 8.6 million deep: no reason logged")
	}
	if logged {
		answer += ", reason logged"
	}
	a.t.Logf("%-55s %-70.70s peak RSS %d MiB", "Fluent frame of 8.6 MB nested 0x91", answer, a.rss.peakSince(mark)>>20)
	// The input still takes chunks.
	conn, dec = harness.FluentHandshake(a.t, addr, sharedKey, 20*time.Second)
	defer conn.Close()
	msg, _ := msgpack.Marshal([]any{"clickstream.navigation_trip_finished.v1", time.Now().Unix(),
		map[string]any{"context.user_id": "abuse", "trip_id": "abuse-1", "distance_m": 5, "arrived": true}, map[string]any{"chunk": "after"}})
	if _, err := conn.Write(msg); err != nil {
		a.t.Fatal(err)
	}
	if v, err := dec.DecodeInterface(); err != nil || fmt.Sprint(v) != "map[ack:after]" {
		a.t.Errorf("a chunk after the nested frame: %v %v, want its ack", v, err)
	}
}

// webhookRedirect subscribes a receiver that answers 307 to the place it
// redirects to: the receiver gets one request, its target none, and the
// subscription parks with the redirect as the reason.
func (a *abuse) webhookRedirect(ingestURL, apiKey string) {
	a.t.Helper()
	a.probes++
	mark := a.rss.mark()
	var redirected, target atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { target.Add(1) }))
	defer elsewhere.Close()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		http.Redirect(w, r, elsewhere.URL+"/metadata", http.StatusTemporaryRedirect)
	}))
	defer hook.Close()
	admin := ingestv1connect.NewIngestAdminServiceClient(harness.BearerClient(a.admin), ingestURL)
	if _, err := admin.CreateSubscription(a.ctx, &ingestv1.CreateSubscriptionRequest{Actor: "abuse test", Subscription: &ingestv1.Subscription{
		Name: "abuse-redirect", OwnerTeam: "security", Environments: []string{"dev"},
		Events:   []*ingestv1.SubscribedEvent{{Name: "NavigationTripFinished"}},
		Delivery: ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK, Format: ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
		Webhook: &ingestv1.Webhook{Url: hook.URL, MaxFailures: 5},
	}}); err != nil {
		a.t.Fatalf("create the webhook subscription: %v", err)
	}
	events := ingestv1connect.NewIngestServiceClient(harness.BearerClient(apiKey), ingestURL)
	w := harness.Workload{N: 1, Users: 1, UserPrefix: "abuse-user", Prefix: "abuse-webhook"}
	if resp, err := events.SendBatch(a.ctx, &ingestv1.SendBatchRequest{Events: []*ingestv1.Event{w.Event(0)}}); err != nil || resp.GetAccepted() != 1 {
		a.t.Fatalf("send an event: %v %v", resp, err)
	}
	var reason string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := admin.GetSubscription(a.ctx, &ingestv1.GetSubscriptionRequest{Name: "abuse-redirect"})
		if err == nil && resp.GetSubscription().GetState() == ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PARKED {
			reason = resp.GetSubscription().GetParkedReason()
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // a second request would come now
	answer := fmt.Sprintf("receiver %d request(s), target %d; parked: %s", redirected.Load(), target.Load(), reason)
	a.t.Logf("%-55s %-70.70s peak RSS %d MiB", "webhook receiver answering 307", answer, a.rss.peakSince(mark)>>20)
	if redirected.Load() != 1 || target.Load() != 0 || !strings.Contains(reason, "307") {
		a.t.Errorf("webhook answering 307: %s; want one request, none to the target, the redirect in the parked reason", answer)
	}
}

// Requests of the probes.

func grpcFrame(compressed bool, msg []byte) []byte {
	frame := make([]byte, 5, 5+len(msg))
	if compressed {
		frame[0] = 1
	}
	byteorder.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	return append(frame, msg...)
}

func grpcRequest(msg []byte, compressed bool) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(grpcFrame(compressed, msg)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		if compressed {
			req.Header.Set("Grpc-Encoding", "gzip")
		}
		return req, nil
	}
}

func grpcWebRequest(msg []byte) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(grpcFrame(true, msg)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		req.Header.Set("Grpc-Encoding", "gzip")
		return req, nil
	}
}

// grpcStream streams one gRPC message of n bytes without a declared body
// length.
func grpcStream(n int64) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		var prefix [5]byte
		byteorder.BigEndian.PutUint32(prefix[1:], uint32(n))
		body := io.MultiReader(bytes.NewReader(prefix[:]), io.LimitReader(zeros{}, n))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
		if err != nil {
			return nil, err
		}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		return req, nil
	}
}

func connectRequest(body []byte, encoding string) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Connect-Protocol-Version", "1")
		req.Header.Set("Content-Encoding", encoding)
		return req, nil
	}
}

// restStream streams n bytes of a JSON string without a declared length.
func restStream(method string, n int64) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		body := io.MultiReader(strings.NewReader(`{"actor":"`), io.LimitReader(letters{}, n), strings.NewReader(`"}`))
		req, err := http.NewRequestWithContext(ctx, method, url, body)
		if err != nil {
			return nil, err
		}
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}

func restGzip(method string, bomb []byte) newRequest {
	return func(ctx context.Context, url string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(bomb))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		return req, nil
	}
}

// Checks of the answers.

func wantGRPC(code int) answerCheck {
	return func(resp *http.Response, body []byte) (string, string) {
		got := resp.Trailer.Get("Grpc-Status")
		if got == "" {
			got = resp.Header.Get("Grpc-Status")
		}
		msg := resp.Trailer.Get("Grpc-Message") + resp.Header.Get("Grpc-Message")
		if got == "" {
			// gRPC-Web sends its trailers in the body.
			if i := bytes.Index(body, []byte("grpc-status:")); i >= 0 {
				got = strings.TrimSpace(strings.SplitN(string(body[i+len("grpc-status:"):]), "\r\n", 2)[0])
			}
		}
		answer := fmt.Sprintf("HTTP %d grpc-status %s %s", resp.StatusCode, got, msg)
		if got != strconv.Itoa(code) {
			return answer, fmt.Sprintf("%s, want grpc-status %d", answer, code)
		}
		return answer, ""
	}
}

func wantConnect(status int, code string) answerCheck {
	return func(resp *http.Response, body []byte) (string, string) {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		answer := fmt.Sprintf("HTTP %d %s: %s", resp.StatusCode, e.Code, e.Message)
		if resp.StatusCode != status || e.Code != code {
			return answer, fmt.Sprintf("%s, want HTTP %d %s", answer, status, code)
		}
		return answer, ""
	}
}

func wantHTTP(status int) answerCheck {
	return func(resp *http.Response, body []byte) (string, string) {
		answer := fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.StatusCode != status {
			return answer, fmt.Sprintf("%s, want HTTP %d", answer, status)
		}
		return answer, ""
	}
}

// Helpers.

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// gzipBomb inflates to n bytes of zeros (n a multiple of 1 MiB): one
// member of 1 MiB, about a kilobyte, repeated, so the test holds only
// about n/1000 bytes.
func gzipBomb(t *testing.T, n int64) []byte {
	t.Helper()
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), int(n>>20))
}

func signJWT(t *testing.T, secret []byte, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func h2cClient() *http.Client {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &protocols}, Timeout: 30 * time.Second}
}

// rssWatch samples the resident memory of a process every 20 ms.
type rssWatch struct {
	mu      sync.Mutex
	samples []int64
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	sample := func() {
		if n, err := vmRSS(pid); err == nil {
			w.mu.Lock()
			w.samples = append(w.samples, n)
			w.mu.Unlock()
		}
	}
	sample()
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return w
}

// mark is where the samples taken from now on start.
func (w *rssWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.samples)
}

// peakSince is the largest sample since mark, the last one included.
func (w *rssWatch) peakSince(mark int) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var peak int64
	for _, n := range w.samples[max(0, min(mark, len(w.samples)-1)):] {
		peak = max(peak, n)
	}
	return peak
}

// current is the latest sample.
func (w *rssWatch) current() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples) == 0 {
		return 0
	}
	return w.samples[len(w.samples)-1]
}

// vmRSS reads VmRSS of /proc/<pid>/status in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
