package main

import (
	"context"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/postgres/pgtest"
	"github.com/clickstream-dev/clickstream/platform"
)

// startStack runs cfg.Services (all when empty) in-process on free ports,
// with data in a fresh directory, until the test ends, and returns once
// they are ready.
func startStack(t *testing.T, cfg platform.Config) *platform.Stack {
	t.Helper()
	cfg.DataDir = pgtest.DataDir(t)
	if len(cfg.Services) == 0 {
		cfg.Services = platform.Services()
	}
	cfg.Addrs = map[string]string{}
	for _, name := range cfg.Services {
		cfg.Addrs[name] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := platform.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("start %v: %v", cfg.Services, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%v stopped with error: %v", cfg.Services, err)
		}
	})
	ready, readyCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readyCancel()
	if err := s.WaitReady(ready); err != nil {
		t.Fatalf("%v did not get ready: %v", cfg.Services, err)
	}
	return s
}
