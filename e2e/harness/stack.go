package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

// readyWait bounds the wait for an in-process stack to answer ready.
const readyWait = time.Minute

// Stack is a platform.Stack started in-process for one test.
type Stack struct {
	*platform.Stack
	shutdown func()
}

// DataDir returns a new data directory, removed when the test ends, that the
// postgres OS user can enter when the tests run as root.
func DataDir(t testing.TB) string {
	t.Helper()
	return pgtest.DataDir(t)
}

// DevConfig is the whole platform as `clickstream dev` runs it — registry,
// ingest and awards with the starter achievements, each on a free port of
// 127.0.0.1 — with its data in dir; tests add what they need.
func DevConfig(dir, adminToken, piiSecret string) platform.Config {
	return platform.Config{
		DataDir:    dir,
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0", platform.Awards: "127.0.0.1:0"},
		Awards:     platform.AwardsConfig{Starter: true},
		AdminToken: adminToken,
		Ingest:     ingest.Config{PIISecret: piiSecret},
	}
}

// StartStack runs the stack of cfg in-process (a fresh DataDir and
// 127.0.0.1:0 addresses give free ports) until the test ends or Shutdown,
// and waits until it is ready. A stack that does not start, or stops with an
// error, fails the test.
func StartStack(t testing.TB, cfg platform.Config) *Stack {
	t.Helper()
	return StartAtOnce(t, 1, cfg)[0]
}

// StartAtOnce starts n stacks of cfg at the same moment (their migrations
// and consumers race as those of several instances do) and waits until each
// is ready; each runs until the test ends or its Shutdown.
func StartAtOnce(t testing.TB, n int, cfg platform.Config) []*Stack {
	t.Helper()
	stacks := make([]*platform.Stack, n)
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		wg.Go(func() { stacks[i], errs[i] = platform.Start(ctxs[i], cfg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for j, s := range stacks {
				cancels[j]()
				if s != nil {
					s.Close()
				}
			}
			t.Fatalf("start %s: %v", instanceName(cfg, i, n), err)
		}
	}
	out := make([]*Stack, n)
	for i, s := range stacks {
		done := make(chan error, 1)
		go func() { done <- s.Run(ctxs[i]) }()
		var once sync.Once
		shutdown := func() {
			once.Do(func() {
				cancels[i]()
				if err := <-done; err != nil {
					t.Errorf("%s stopped with error: %v", instanceName(cfg, i, n), err)
				}
			})
		}
		t.Cleanup(shutdown)
		out[i] = &Stack{Stack: s, shutdown: shutdown}
	}
	for i, s := range stacks {
		waitCtx, cancelWait := context.WithTimeout(ctxs[i], readyWait)
		err := s.WaitReady(waitCtx)
		cancelWait()
		if err != nil {
			t.Fatalf("%s is not ready: %v", instanceName(cfg, i, n), err)
		}
	}
	return out
}

func instanceName(cfg platform.Config, i, n int) string {
	name := "the stack"
	if len(cfg.Services) > 0 {
		name = strings.Join(cfg.Services, "+")
	}
	if n > 1 {
		name = fmt.Sprintf("instance %d of %s", i+1, name)
	}
	return name
}

// Shutdown stops every service of the stack and waits until they are down.
func (s *Stack) Shutdown() { s.shutdown() }

// REST does one HTTP request with a JSON body (may be "") and
// the bearer token token ("" for none), and returns the status and the
// answer's body.
func REST(t testing.TB, token, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}
