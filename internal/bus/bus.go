package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	defaultDuplicateWindow = 24 * time.Hour
	defaultWindow          = 256
	defaultAckTimeout      = 5 * time.Second

	// startTimeout bounds how long Open waits for the embedded server to accept connections.
	startTimeout = 10 * time.Second
	// drainTimeout bounds how long Close waits for in-flight messages to be flushed.
	drainTimeout = 10 * time.Second
)

// ErrClosed is returned by operations on a Bus after Close.
var ErrClosed = errors.New("bus is closed")

// Config says which NATS the bus uses and how its streams are set up.
type Config struct {
	URL             string        // external NATS server/cluster (nats://...); empty = embedded server
	DataDir         string        // embedded: JetStream file store directory (required when URL is empty)
	ListenAddr      string        // embedded: "host:port" to also accept network clients; empty = in-process only
	Streams         StreamsConfig // replicas, limits and who manages the streams
	DuplicateWindow time.Duration // JetStream dedupe window for Nats-Msg-Id; 0 means 24h
	Logger          *slog.Logger  // may be nil

	// Window bounds the messages PublishAll keeps in flight (sent, not yet acknowledged);
	// 0 means 256.
	Window int
	// AckTimeout is how long PublishAll waits for JetStream to acknowledge one message;
	// 0 means 5s.
	AckTimeout time.Duration
}

// withDefaults validates cfg and fills in its zero values.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" && cfg.DataDir == "" {
		return cfg, errors.New("bus config: DataDir is required for the embedded NATS server (or set URL to use an external one)")
	}
	if cfg.URL != "" && (cfg.DataDir != "" || cfg.ListenAddr != "") {
		return cfg, fmt.Errorf("bus config: DataDir and ListenAddr apply to the embedded server only; unset them or the URL %q", cfg.URL)
	}
	switch {
	case cfg.Streams.Replicas < 0:
		return cfg, fmt.Errorf("bus config: replicas %d must be 0 (meaning 1) or more", cfg.Streams.Replicas)
	case cfg.Streams.Replicas == 0:
		cfg.Streams.Replicas = 1
	}
	if cfg.URL == "" && cfg.Streams.Replicas > 1 {
		return cfg, fmt.Errorf("bus config: %d replicas need an external NATS cluster (URL); the embedded server is a single node", cfg.Streams.Replicas)
	}
	switch {
	case cfg.DuplicateWindow < 0:
		return cfg, fmt.Errorf("bus config: duplicate window %s must not be negative", cfg.DuplicateWindow)
	case cfg.DuplicateWindow == 0:
		cfg.DuplicateWindow = defaultDuplicateWindow
	}
	if err := cfg.Streams.validate(cfg.DuplicateWindow); err != nil {
		return cfg, err
	}
	switch {
	case cfg.Window < 0:
		return cfg, fmt.Errorf("bus config: publish window %d must not be negative", cfg.Window)
	case cfg.Window == 0:
		cfg.Window = defaultWindow
	}
	switch {
	case cfg.AckTimeout < 0:
		return cfg, fmt.Errorf("bus config: ack timeout %s must not be negative", cfg.AckTimeout)
	case cfg.AckTimeout == 0:
		cfg.AckTimeout = defaultAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// Bus is a connection to NATS JetStream with the clickstream streams in place.
// It is safe for concurrent use.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	server *server.Server // embedded server; nil with an external URL
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{} // closed by the connection's ClosedHandler

	closeOnce sync.Once
}

// Open starts the embedded NATS server when cfg.URL is empty (or connects to cfg.URL),
// and makes sure the streams exist.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, log: cfg.Logger, closed: make(chan struct{})}

	opts := []nats.Option{
		nats.Name("clickstream"),
		nats.MaxReconnects(-1),
		// Fail publishes at once while disconnected instead of buffering them:
		// the caller learns the bus is down and its client retries with the same MsgID.
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("bus disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("bus reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			b.log.Warn("bus async error", attrs...)
		}),
	}

	url := cfg.URL
	if cfg.URL == "" {
		b.server, err = startEmbedded(ctx, cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(b.server))
		url = ""
	}
	b.nc, err = nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		if cfg.URL == "" {
			return nil, fmt.Errorf("connect to embedded NATS server: %w", err)
		}
		return nil, fmt.Errorf("connect to NATS at %s: %w", cfg.URL, err)
	}
	b.js, err = jetstream.New(b.nc, jetstream.WithPublishAsyncTimeout(cfg.AckTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	if err := b.EnsureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// JetStream returns the JetStream handle, for consumers and stream inspection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Conn returns the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// MaxPayload is the largest message the NATS server takes, as it told the
// connection.
func (b *Bus) MaxPayload() int64 { return b.nc.MaxPayload() }

// ClientURL returns the URL network clients can use to reach this bus: the embedded
// server's listen address, or the configured external URL. It is "" when the embedded
// server accepts in-process connections only.
func (b *Bus) ClientURL() string {
	if b.server == nil {
		return b.cfg.URL
	}
	if b.cfg.ListenAddr == "" {
		return ""
	}
	addr, ok := b.server.Addr().(*net.TCPAddr)
	if !ok {
		return b.server.ClientURL()
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		// A server listening on all interfaces is reachable on loopback at least.
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// Ready reports whether the connection is up and JetStream answers; it backs /readyz.
// Give ctx a deadline: without one, a JetStream that does not answer holds Ready for the
// client's default timeout (5s).
func (b *Bus) Ready(ctx context.Context) error {
	if status := b.nc.Status(); status != nats.CONNECTED {
		return fmt.Errorf("bus not ready: connection is %s", status)
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("bus not ready: JetStream account info: %w", err)
	}
	return nil
}

// Close drains the connection (flushing what was published), then shuts the embedded
// server down and waits for it. It is safe to call more than once.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(drainTimeout + time.Second):
			b.log.Warn("bus drain did not finish; closing the connection")
			b.nc.Close()
		}
		b.shutdownServer()
	})
}

func (b *Bus) shutdownServer() {
	if b.server == nil {
		return
	}
	b.server.Shutdown()
	b.server.WaitForShutdown()
}
