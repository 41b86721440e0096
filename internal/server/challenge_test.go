package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// Every 401, on REST and on Connect, carries an RFC 6750 Bearer challenge:
// with error="invalid_token" when the request had a token, without an
// error code when it had none; the error's prose stays in the body.
func TestUnauthenticatedBearerChallenge(t *testing.T) {
	d := &registryDouble{getEvent: func(context.Context, *registryv1.GetEventRequest) (*registryv1.GetEventResponse, error) {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("the token has expired: sign in again"))
	}}
	srv := start(t, Config{}, d.routes())
	for _, tc := range []struct {
		name, method, path, contentType, body, token, want string
	}{
		{"REST without a token", "GET", "/v1/events/7", "", "", "", `Bearer realm="clickstream"`},
		{"REST with a token", "GET", "/v1/events/7", "", "", "Bearer old", `Bearer realm="clickstream", error="invalid_token"`},
		{"Connect with a token", "POST", "/clickstream.registry.v1.RegistryService/GetEvent", "application/json", `{"eventId":7}`, "Bearer old", `Bearer realm="clickstream", error="invalid_token"`},
		{"Connect without a token", "POST", "/clickstream.registry.v1.RegistryService/GetEvent", "application/json", `{"eventId":7}`, "", `Bearer realm="clickstream"`},
	} {
		req, _ := http.NewRequestWithContext(callContext(t), tc.method, srv.URL()+tc.path, strings.NewReader(tc.body))
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if tc.token != "" {
			req.Header.Set("Authorization", tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := resp.Header.Values("WWW-Authenticate")
		t.Logf("%s: HTTP %d, WWW-Authenticate %q, body %s", tc.name, resp.StatusCode, got, body)
		if resp.StatusCode != http.StatusUnauthorized || len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: HTTP %d with WWW-Authenticate %q, want 401 with %q", tc.name, resp.StatusCode, got, tc.want)
		}
		if !strings.Contains(string(body), "the token has expired") {
			t.Errorf("%s: body %s lost the error's message", tc.name, body)
		}
	}
	// Other answers carry no challenge.
	d.getEvent = nil
	resp, err := http.Get(srv.URL() + "/v1/events/7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("a 200: HTTP %d with WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
