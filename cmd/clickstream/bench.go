package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	eventsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/ingest"
)

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "End-to-end load benchmarks",
		Args:  noArgs,
	}
	cmd.AddCommand(newBenchIngestCommand())
	return cmd
}

// benchIngestOptions are the flags of `clickstream bench ingest`.
type benchIngestOptions struct {
	protocols   []string
	batch       int
	concurrency int
	duration    time.Duration
	events      int
	ingest      string
	apiKey      string
	natsURL     string
	environment string
	cpuProfile  string
	rounds      int
}

// benchProtocols are the protocols `bench ingest` knows.
var benchProtocols = []string{"grpc", "connect", "grpc-web", "rest"}

func newBenchIngestCommand() *cobra.Command {
	var o benchIngestOptions
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Benchmark ingest per protocol against raw JetStream publishing in the same run",
		Long: `Send typed ItemViewV2 events (JSON on REST) with unique idempotency keys to
ingest in batches from concurrent workers, per protocol, and report events/s
and the p50 and p99 latency of a batch. The same run measures the ceiling:
asynchronous JetStream publishing of the same EventRecords (batch size and
concurrency alike) straight onto the bus, and prints each protocol's ratio to it.
The phases alternate in --rounds rounds, so that a change in the machine's
load falls on every phase alike.

Without --ingest, an in-process dev stack (private PostgreSQL, embedded NATS
with file storage) is started in a temporary directory and removed afterwards;
its warehouse loader catches up with EVENTS before each phase, so that no
phase pays for the backlog of the one before.
Against a remote --ingest, raw publishing needs --nats-url.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("duration") && cmd.Flags().Changed("events") {
				return usageError{errors.New("--duration and --events exclude each other: choose one")}
			}
			if cmd.Flags().Changed("events") {
				o.duration = 0
			} else {
				o.events = 0
			}
			return runBenchIngest(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.protocols, "protocol", []string{"grpc", "connect", "rest"}, "protocols to measure, comma-separated: grpc, connect, grpc-web, rest")
	f.IntVar(&o.batch, "batch", 100, "events per batch")
	f.IntVar(&o.concurrency, "concurrency", 4, "concurrent batches in flight")
	f.IntVar(&o.rounds, "rounds", 3, "alternate the phases in this many rounds, each taking its share of --duration or --events")
	f.DurationVar(&o.duration, "duration", 5*time.Second, "how long to measure each protocol (and raw publishing)")
	f.IntVar(&o.events, "events", 0, "send this many events per protocol instead of running for --duration")
	f.StringVar(&o.ingest, "ingest", "", "base URL of an ingest service to measure; default: start an in-process dev stack")
	f.StringVar(&o.apiKey, "api-key", "", "ingest API key for --ingest; default: <data-dir>/ingest-key of the dev stack if it exists")
	f.StringVar(&o.natsURL, "nats-url", "", "with --ingest: the NATS of that ingest, to measure raw publishing")
	f.StringVar(&o.environment, "environment", "dev", "environment of the raw EventRecords (the subject events.<environment>.item_view.v2)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases (client and in-process stack alike) to this file, for go tool pprof")
	return cmd
}

// benchTarget is what a benchmark runs against.
type benchTarget struct {
	url    string
	apiKey string
	bus    *bus.Bus // nil: no raw publishing
	close  func()
	about  string
	// settle waits until the stack's own consumers of EVENTS (the
	// warehouse loader) have caught up, so that no phase pays for the
	// backlog of the one before it; nil for a remote --ingest, whose
	// consumers may never be idle.
	settle func(ctx context.Context, progress io.Writer) error
}

func runBenchIngest(cmd *cobra.Command, o benchIngestOptions) error {
	for _, p := range o.protocols {
		if !slices.Contains(benchProtocols, p) {
			return usageError{fmt.Errorf("--protocol %q: use %s", p, strings.Join(benchProtocols, ", "))}
		}
	}
	switch {
	case len(o.protocols) == 0:
		return usageError{errors.New("--protocol: name at least one protocol")}
	case o.batch < 1:
		return usageError{fmt.Errorf("--batch %d: send at least 1 event per batch", o.batch)}
	case o.rounds < 1:
		return usageError{fmt.Errorf("--rounds %d: run at least 1 round", o.rounds)}
	case o.concurrency < 1:
		return usageError{fmt.Errorf("--concurrency %d: run at least 1 worker", o.concurrency)}
	case o.events <= 0 && o.duration <= 0:
		return usageError{errors.New("give a positive --duration or --events")}
	}
	ctx := cmd.Context()
	out, progress := cmd.OutOrStdout(), cmd.ErrOrStderr()

	target, err := benchTargetFor(ctx, o, progress)
	if err != nil {
		return err
	}
	defer target.close()

	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	gen := &benchEvents{run: hex.EncodeToString(runID), subjectEnv: o.environment}
	limit := fmt.Sprintf("%s per protocol", o.duration)
	if o.events > 0 {
		limit = fmt.Sprintf("%d events per protocol", o.events)
	}
	fmt.Fprintf(out, "bench ingest: %s; batches of %d, %d concurrent, %s\n", target.about, o.batch, o.concurrency, limit)

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// Phases alternate in rounds, so that a change in the machine's load
	// falls on every protocol alike rather than on whichever ran then.
	names := o.protocols
	if target.bus != nil {
		names = append([]string{"raw"}, names...)
	}
	results := make([]benchResult, len(names))
	for i, name := range names {
		results[i].name = name
	}
	totalBatches := (o.events + o.batch - 1) / o.batch
	for round := range o.rounds {
		po := o
		po.duration = o.duration / time.Duration(o.rounds)
		if o.events > 0 {
			// Whole batches per round: the round's share of them.
			nb := totalBatches / o.rounds
			if round < totalBatches%o.rounds {
				nb++
			}
			before := round*(totalBatches/o.rounds) + min(round, totalBatches%o.rounds)
			po.events = min(nb*o.batch, o.events-before*o.batch)
			if po.events <= 0 {
				continue
			}
		}
		for i, name := range names {
			// A sender per round: its idempotency keys are new.
			var send benchSendFunc
			if name == "raw" {
				send = gen.rawSender(target.bus)
			} else {
				var err error
				if send, err = gen.sender(name, target); err != nil {
					return err
				}
			}
			if target.settle != nil {
				if err := target.settle(ctx, progress); err != nil {
					return err
				}
			}
			r, err := runBenchPhase(ctx, po, name, send, progress)
			if err != nil {
				return err
			}
			results[i].add(r)
		}
	}
	for i := range results {
		results[i].summarize()
	}
	printBenchResults(out, results, target.bus != nil)
	for _, r := range results {
		if r.failed > 0 || r.rejected > 0 {
			return fmt.Errorf("%s: %d batches failed and %d events were rejected (first: %v)", r.name, r.failed, r.rejected, r.firstErr)
		}
	}
	return nil
}

// benchTargetFor starts an in-process dev stack, or describes --ingest.
func benchTargetFor(ctx context.Context, o benchIngestOptions, progress io.Writer) (*benchTarget, error) {
	if o.ingest != "" {
		key, err := ingestAPIKey(o.apiKey)
		if err != nil {
			return nil, err
		}
		t := &benchTarget{url: o.ingest, apiKey: key, close: func() {}, about: "ingest at " + o.ingest}
		if o.natsURL != "" {
			b, err := bus.Open(ctx, bus.Config{URL: o.natsURL})
			if err != nil {
				return nil, err
			}
			t.bus, t.close = b, b.Close
			t.about += ", raw publishing to " + o.natsURL
		} else {
			t.about += " (no --nats-url: raw publishing not measured)"
		}
		return t, nil
	}

	dir, err := os.MkdirTemp("", "clickstream-bench-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to enter the data directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(progress, "starting a dev stack in %s ...\n", dir)
	// The stack's admin token lets ingest's usage reporter send its counts
	// to the registry's admin API, as in `clickstream dev`; without one the
	// registry refuses every report.
	adminToken, err := auth.LoadOrCreateToken(filepath.Join(dir, "admin-token"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	s, err := platform.Start(runCtx, platform.Config{
		AdminToken: adminToken,
		DataDir:    filepath.Join(dir, "data"),
		Addrs:      map[string]string{platform.Registry: "127.0.0.1:0", platform.Ingest: "127.0.0.1:0"},
		Services:   []string{platform.Registry, platform.Ingest},
		Ingest:     ingest.Config{Environment: o.environment, MaxBatchEvents: max(o.batch, ingest.DefaultConfig().MaxBatchEvents)},
		Logger:     slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	ready, readyCancel := context.WithTimeout(ctx, time.Minute)
	defer readyCancel()
	if err := s.WaitReady(ready); err != nil {
		cancel()
		<-done
		os.RemoveAll(dir)
		return nil, fmt.Errorf("the dev stack did not get ready: %w", err)
	}
	return &benchTarget{
		url:    s.URL(platform.Ingest),
		apiKey: s.IngestKey(),
		bus:    s.Bus(),
		about:  "in-process dev stack (embedded NATS, file storage; its warehouse loader catches up before each phase)",
		settle: func(ctx context.Context, progress io.Writer) error { return consumersCaughtUp(ctx, s.Bus(), progress) },
		close: func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(progress, "dev stack stopped: %v\n", err)
			}
			os.RemoveAll(dir)
		},
	}, nil
}

// consumersCaughtUp waits until every durable consumer of EVENTS has
// neither messages pending nor acknowledgements outstanding.
func consumersCaughtUp(ctx context.Context, b *bus.Bus, progress io.Writer) error {
	stream, err := b.JetStream().Stream(ctx, bus.StreamEvents)
	if err != nil {
		return fmt.Errorf("bench: stream %s: %w", bus.StreamEvents, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	said := false
	for {
		var behind uint64
		names := stream.ConsumerNames(ctx)
		for name := range names.Name() {
			c, err := stream.Consumer(ctx, name)
			if err != nil {
				continue // removed meanwhile
			}
			info := c.CachedInfo()
			behind += info.NumPending + uint64(info.NumAckPending)
		}
		if err := names.Err(); err != nil {
			return fmt.Errorf("bench: consumers of %s: %w", bus.StreamEvents, err)
		}
		if behind == 0 {
			return nil
		}
		if !said {
			fmt.Fprintf(progress, "  waiting for the stack's consumers of %s to catch up (%d events behind)\n", bus.StreamEvents, behind)
			said = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: the stack's consumers of %s did not catch up (%d events behind): %w", bus.StreamEvents, behind, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// benchSendFunc sends batch number seq of n events from worker w and
// returns how many were stored and rejected.
type benchSendFunc func(ctx context.Context, w, seq, n int) (stored, rejected int, err error)

// benchEvents generates the benchmark's events: ItemViewV2 with unique
// idempotency keys.
type benchEvents struct {
	run        string
	subjectEnv string
	phase      atomic.Int64
}

func (g *benchEvents) keyPrefix(name string) string {
	return fmt.Sprintf("bench-%s-%s-%d-", g.run, name, g.phase.Add(1))
}

func benchItemView(i int) *eventsv1.ItemViewV2 {
	return &eventsv1.ItemViewV2{
		Context:    &eventsv1.Context{UserId: "u-" + strconv.Itoa(i%1000), Platform: eventsv1.Platform_PLATFORM_ANDROID},
		ItemId:     int64(4815162342 + i),
		CategoryId: 24,
		Referrer:   "search",
	}
}

// key is the idempotency key of event i of batch seq of worker w.
func benchKey(prefix string, w, seq, i int) string {
	b := make([]byte, 0, len(prefix)+24)
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(w), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	return string(b)
}

func (g *benchEvents) sender(protocol string, t *benchTarget) (benchSendFunc, error) {
	prefix := g.keyPrefix(protocol)
	if protocol == "rest" {
		return g.restSender(prefix, t), nil
	}
	p, err := ingestclient.ParseProtocol(protocol)
	if err != nil {
		return nil, usageError{err}
	}
	c := ingestclient.New(t.url, ingestclient.WithProtocol(p), ingestclient.WithAPIKey(t.apiKey),
		ingestclient.WithRetryPolicy(ingestclient.RetryPolicy{MaxAttempts: 1}))
	return func(ctx context.Context, w, seq, n int) (int, int, error) {
		events := make([]*ingestv1.Event, n)
		for i := range events {
			a, err := anypb.New(benchItemView(seq*n + i))
			if err != nil {
				return 0, 0, err
			}
			events[i] = &ingestv1.Event{IdempotencyKey: benchKey(prefix, w, seq, i), Payload: &ingestv1.Event_Typed{Typed: a}}
		}
		results, err := c.Send(ctx, events...)
		if err != nil {
			return 0, 0, err
		}
		var stored, rejected int
		for _, r := range results {
			if r.Stored() {
				stored++
			} else if r.Status == ingestv1.EventStatus_EVENT_STATUS_REJECTED {
				rejected++
			}
		}
		return stored, rejected, nil
	}, nil
}

// restSender posts JSON batches to POST /v1/events:batch, as web does.
func (g *benchEvents) restSender(prefix string, t *benchTarget) benchSendFunc {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256}}
	url := strings.TrimRight(t.url, "/") + "/v1/events:batch"
	return func(ctx context.Context, w, seq, n int) (int, int, error) {
		body := make([]byte, 0, 64+n*200)
		body = append(body, `{"events":[`...)
		for i := range n {
			if i > 0 {
				body = append(body, ',')
			}
			ev := seq*n + i
			body = append(body, `{"idempotencyKey":"`...)
			body = append(body, benchKey(prefix, w, seq, i)...)
			body = append(body, `","json":{"name":"clickstream.events.v1.ItemViewV2","data":{"context":{"userId":"u-`...)
			body = strconv.AppendInt(body, int64(ev%1000), 10)
			body = append(body, `","platform":"PLATFORM_ANDROID"},"itemId":"`...)
			body = strconv.AppendInt(body, int64(4815162342+ev), 10)
			body = append(body, `","categoryId":24,"referrer":"search"}}}`...)
		}
		body = append(body, "]}"...)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if t.apiKey != "" {
			req.Header.Set("Authorization", "Bearer "+t.apiKey)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
		}
		var verdict struct{ Accepted, Duplicates, Rejected int }
		if err := json.Unmarshal(data, &verdict); err != nil {
			return 0, 0, fmt.Errorf("POST %s: decode the answer: %w", url, err)
		}
		return verdict.Accepted + verdict.Duplicates, verdict.Rejected, nil
	}
}

// rawSender publishes the EventRecords ingest would publish for the same
// events straight to JetStream: the ceiling ingest is measured against.
func (g *benchEvents) rawSender(b *bus.Bus) benchSendFunc {
	prefix := g.keyPrefix("raw")
	subject, err := bus.EventSubject(g.subjectEnv, "ItemView", 2)
	if err != nil {
		return func(context.Context, int, int, int) (int, int, error) { return 0, 0, err }
	}
	return func(ctx context.Context, w, seq, n int) (int, int, error) {
		msgs := make([]bus.Message, n)
		now := timestamppb.Now()
		for i := range msgs {
			view := benchItemView(seq*n + i)
			payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(view)
			if err != nil {
				return 0, 0, err
			}
			id := benchKey(prefix, w, seq, i)
			data, err := proto.Marshal(&busv1.EventRecord{
				Id: id, EventId: 1001, EventVersion: 2, EventName: "clickstream.events.v1.ItemViewV2",
				Environment: g.subjectEnv, ReceivedAt: now, Payload: payload,
				Context: view.GetContext(), UserId: view.GetContext().GetUserId(),
			})
			if err != nil {
				return 0, 0, err
			}
			msgs[i] = bus.Message{Subject: subject, MsgID: id, Data: data}
		}
		results, err := b.PublishAll(ctx, msgs)
		if err != nil {
			return 0, 0, err
		}
		for _, r := range results {
			if r.Err != nil {
				return 0, 0, r.Err
			}
		}
		return n, 0, nil
	}
}

// benchResult is what one phase measured.
type benchResult struct {
	name             string
	stored, rejected int
	batches, failed  int
	firstErr         error
	elapsed          time.Duration
	p50, p99         time.Duration
	latencies        []time.Duration // of each batch, until summarize
}

// add counts another round of the same phase in r.
func (r *benchResult) add(o benchResult) {
	r.stored += o.stored
	r.rejected += o.rejected
	r.failed += o.failed
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.latencies = append(r.latencies, o.latencies...)
}

// summarize computes the batches and latency percentiles of r's rounds.
func (r *benchResult) summarize() {
	r.batches = len(r.latencies)
	slices.Sort(r.latencies)
	r.p50, r.p99 = percentile(r.latencies, 0.50), percentile(r.latencies, 0.99)
}

func (r benchResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.stored) / r.elapsed.Seconds()
}

// runBenchPhase runs send from o.concurrency workers for o.duration or
// until o.events are sent, after one unmeasured warm-up batch per worker.
// A failed batch counts in failed and is not retried.
func runBenchPhase(ctx context.Context, o benchIngestOptions, name string, send benchSendFunc, progress io.Writer) (benchResult, error) {
	res := benchResult{name: name}
	for w := range o.concurrency {
		if _, _, err := send(ctx, w, -1, min(o.batch, 10)); err != nil {
			return res, fmt.Errorf("bench %s: warm-up batch: %w", name, err)
		}
	}
	var (
		claimed, stored atomic.Int64
		mu              sync.Mutex
		latencies       []time.Duration
		wg              sync.WaitGroup
	)
	// The deadline stops new batches; batches in flight finish and count.
	start := time.Now()
	deadline := start.Add(o.duration)
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				n := stored.Load()
				fmt.Fprintf(progress, "  %s: %d events, %.0f events/s\n", name, n, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	for w := range o.concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for seq := 0; ctx.Err() == nil; seq++ {
				n := o.batch
				if o.events <= 0 && !time.Now().Before(deadline) {
					break
				}
				if o.events > 0 {
					from := claimed.Add(int64(n)) - int64(n)
					if from >= int64(o.events) {
						break
					}
					n = min(n, o.events-int(from))
				}
				t0 := time.Now()
				ok, rejected, err := send(ctx, w, seq, n)
				if err != nil {
					mu.Lock()
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
				stored.Add(int64(ok))
				mu.Lock()
				res.rejected += rejected
				mu.Unlock()
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stopProgress)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.stored = int(stored.Load())
	res.latencies = latencies
	return res, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func printBenchResults(out io.Writer, results []benchResult, haveRaw bool) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tevents\tbatches\tevents/s\tp50\tp99\t")
	var raw float64
	for _, r := range results {
		if r.name == "raw" {
			raw = r.rate()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t\n", r.name, r.stored, r.batches, r.rate(),
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
	}
	tw.Flush()
	if !haveRaw || raw == 0 {
		fmt.Fprintln(out, "no raw publishing measured: no ratios")
		return
	}
	for _, r := range results {
		if r.name != "raw" {
			fmt.Fprintf(out, "ratio %s/raw: %.2f\n", r.name, r.rate()/raw)
		}
	}
}
