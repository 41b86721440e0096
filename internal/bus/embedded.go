package bus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the largest message the embedded and local-cluster NATS
// servers take, above NATS's default of 1 MiB so that ingest's dead letters
// keep an event's bytes whole up to its request limit. An external NATS
// needs max_payload set as high for the same (see Bus.MaxPayload).
const MaxPayload = 16 << 20

// startEmbedded starts an in-process NATS server with JetStream storing under cfg.DataDir
// and waits until it accepts connections.
func startEmbedded(ctx context.Context, cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "clickstream",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		NoSigs:     true,
		DontListen: cfg.ListenAddr == "",
		MaxPayload: MaxPayload,
	}
	if cfg.ListenAddr != "" {
		host, port, err := splitListenAddr(cfg.ListenAddr)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server (data dir %s): %w", cfg.DataDir, err)
	}
	logger := &serverLogger{log: cfg.Logger.With("component", "nats-server"), fatal: make(chan string, 1)}
	srv.SetLogger(logger, false, false)

	// Start recovers the JetStream store before it returns; a failure there or on the
	// listener is reported through Fatalf, which serverLogger turns into an error here.
	srv.Start()
	deadline := time.Now().Add(startTimeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-logger.fatal:
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS server (data dir %s, listen %q) failed to start: %s", cfg.DataDir, cfg.ListenAddr, msg)
		case <-ctx.Done():
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS server (data dir %s): start: %w", cfg.DataDir, ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS server (data dir %s, listen %q) not ready for connections after %s", cfg.DataDir, cfg.ListenAddr, startTimeout)
		}
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		msg := "JetStream is not enabled"
		select {
		case msg = <-logger.fatal:
		default:
		}
		return nil, fmt.Errorf("embedded NATS server (data dir %s): %s", cfg.DataDir, msg)
	}
	return srv, nil
}

// splitListenAddr turns "host:port" into server options; port 0 asks for a free port.
func splitListenAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("bus listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bus listen address %q: port %q is not a number from 0 to 65535", addr, portText)
	}
	if port == 0 {
		// For the NATS server 0 means its default port 4222; RANDOM_PORT means any free port.
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// serverLogger routes the embedded server's warnings and errors to slog and drops its
// notices, debug and trace lines. Unlike the server's own logger, Fatalf does not exit the
// process: it logs and hands the message to startEmbedded.
type serverLogger struct {
	log   *slog.Logger
	fatal chan string
}

var _ server.Logger = (*serverLogger)(nil)

func (l *serverLogger) Noticef(string, ...any) {}
func (l *serverLogger) Debugf(string, ...any)  {}
func (l *serverLogger) Tracef(string, ...any)  {}

func (l *serverLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}

func (l *serverLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
}

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	select {
	case l.fatal <- msg:
	default:
	}
}
