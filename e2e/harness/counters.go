package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReadStream calls each for every message of stream on subject (every
// subject when "", wildcards allowed) that the stream held when the read
// began, read with an ordered consumer.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream, subject string, each func(jetstream.Msg)) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	var want uint64
	cfg := jetstream.OrderedConsumerConfig{}
	if subject == "" {
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		want = info.State.Msgs
	} else {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return fmt.Errorf("stream %s on %s: %w", stream, subject, err)
		}
		for _, n := range info.State.Subjects {
			want += n
		}
		cfg.FilterSubjects = []string{subject}
	}
	if want == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	for read := uint64(0); read < want; {
		// Ask for no more than remain: a fetch returns once it has them, not
		// at its deadline.
		batch, err := cons.Fetch(int(min(500, want-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			each(m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if got == 0 {
			return fmt.Errorf("read %s: %d of %d messages, then nothing", stream, read, want)
		}
		read += uint64(got)
	}
	return nil
}

// StreamKeys reads every message of stream through a new connection to the
// NATS server at natsURL and returns how often each idempotency key occurs
// (the Nats-Msg-Id, with prefix removed: "dl-" on DEADLETTER). A read that
// fails (a node just restarted) starts over, up to ten times.
func StreamKeys(ctx context.Context, t testing.TB, natsURL, stream, prefix string) map[string]int {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		var keys map[string]int
		if keys, err = readStreamKeys(ctx, natsURL, stream, prefix); err == nil {
			return keys
		}
		t.Logf("read %s (attempt %d): %v", stream, attempt, err)
		time.Sleep(time.Second)
	}
	t.Fatalf("read %s: %v", stream, err)
	return nil
}

func readStreamKeys(ctx context.Context, natsURL, stream, prefix string) (map[string]int, error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	keys := map[string]int{}
	err = ReadStream(ctx, js, stream, "", func(m jetstream.Msg) {
		keys[strings.TrimPrefix(m.Headers().Get(jetstream.MsgIDHeader), prefix)]++
	})
	return keys, err
}

// Total is the number of messages keys counts.
func Total(keys map[string]int) int {
	n := 0
	for _, c := range keys {
		n += c
	}
	return n
}

// CheckOnce fails the test for every key stream holds more than once.
func CheckOnce(t testing.TB, stream string, keys map[string]int) {
	t.Helper()
	var twice []string
	for k, n := range keys {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	slices.Sort(twice)
	if len(twice) > 0 {
		t.Errorf("%s holds %d keys more than once, e.g. %v", stream, len(twice), twice[:min(len(twice), 10)])
	}
}

// Scalar is the one value query answers, e.g. a count of rows.
func Scalar[T any](t testing.TB, db *pgxpool.Pool, query string, args ...any) T {
	t.Helper()
	var v T
	if err := db.QueryRow(context.Background(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return v
}

// Metric reads one sample from base/metrics: sample is the metric's name
// with its labels as exported, e.g. `clickstream_awards_events_total{outcome="applied"}`.
// found is false when the service does not export it (yet).
func Metric(ctx context.Context, base, sample string) (value float64, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			value, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s on %s/metrics: %w", sample, base, err)
			}
			return value, true, nil
		}
	}
	return 0, false, sc.Err()
}
