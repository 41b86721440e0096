package bustest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/bus/bustest"
)

func TestNew(t *testing.T) {
	b := bustest.New(t)
	ctx := context.Background()
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if got := b.ClientURL(); got != "" {
		t.Errorf("ClientURL() = %q, want \"\" for an in-process bus", got)
	}
	for _, name := range []string{bus.StreamEvents, bus.StreamDeadLetter, bus.StreamAwards} {
		if _, err := b.JetStream().Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

// TestCluster shuts down the node leading a replicated stream and restarts it: another
// node leads meanwhile, and the stream keeps every message.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	c := bustest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: c.URL(), Streams: bus.StreamsConfig{Replicas: 3}})
	if err != nil {
		t.Fatalf("Open on the cluster: %v", err)
	}
	defer b.Close()
	publish := func(prefix string) {
		t.Helper()
		msgs := make([]bus.Message, 50)
		for i := range msgs {
			msgs[i] = bus.Message{Subject: "events.test.e.v1", MsgID: fmt.Sprintf("%s-%d", prefix, i), Data: []byte("x")}
		}
		for attempt := 1; ; attempt++ {
			_, err := b.PublishAll(ctx, msgs)
			if err == nil {
				return
			}
			if attempt == 20 {
				t.Fatalf("publish %s: %v", prefix, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	publish("before")

	leader := c.StreamLeader(bus.StreamEvents)
	if leader < 0 {
		t.Fatal("no node leads EVENTS")
	}
	c.ShutdownNode(leader)
	deadline := time.Now().Add(30 * time.Second)
	for c.StreamLeader(bus.StreamEvents) < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no new leader of EVENTS after %s went down", c.Name(leader))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := c.StreamLeader(bus.StreamEvents); got == leader {
		t.Fatalf("the node that was shut down, %s, still leads", c.Name(leader))
	}
	publish("during")
	if err := c.StartNode(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Index(c.Name(leader)) != leader || c.Server(leader) == nil {
		t.Fatalf("node %d is not running after restart", leader)
	}

	// Stream info is answered by the stream's leader; right after the
	// node's restart it can come from a replica still catching up (seen:
	// 50 of 100), so wait for the count the quorum acknowledged.
	var msgs uint64
	var replicas int
	deadline = time.Now().Add(15 * time.Second)
	for {
		s, err := b.JetStream().Stream(ctx, bus.StreamEvents)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msgs, replicas = info.State.Msgs, info.Config.Replicas
		if msgs == 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("EVENTS holds %d messages at %d replicas after the leader's restart", msgs, replicas)
	if msgs != 100 || replicas != 3 {
		t.Errorf("EVENTS holds %d messages at %d replicas, want 100 at 3", msgs, replicas)
	}
}
