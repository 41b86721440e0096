package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/web"
)

func TestServeConsoleProxiesToTheGateways(t *testing.T) {
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(gateway.Close)
	// A free port, as serve console takes an address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var out, errOut strings.Builder
		done <- run(ctx, []string{"serve", "console", "--addr", addr,
			"--registry-url", gateway.URL, "--ingest-url", gateway.URL, "--awards-url", gateway.URL}, &out, &errOut)
	}()
	base := "http://" + addr + web.Prefix
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get(base + "config.json"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("serve console does not answer on %s: %v", addr, err)
	}
	var c web.ClientConfig
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || c.Awards != "/console/api/awards" {
		t.Errorf("config.json: %+v, %v", c, err)
	}
	resp, err = http.Get(base + "api/awards/v1/achievements")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"path":"/v1/achievements"}` {
		t.Errorf("the awards gateway got %s, want /v1/achievements", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve console stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("serve console did not stop when its context ended")
	}
}

func TestServeConsoleHelpNamesTheGatewayFlags(t *testing.T) {
	out, _, err := runCLI(t, "serve", "console", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--registry-url", "--ingest-url", "--awards-url", "CLICKSTREAM_AWARDS_URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve console --help does not mention %s:\n%s", want, out)
		}
	}
}
