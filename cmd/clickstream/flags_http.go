package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry"
)

// addHTTPFlags adds the connection and request limits every service's server takes, and the
// heartbeat of the registry's schema watch (a stream on those connections).
func addHTTPFlags(f *pflag.FlagSet, s *platform.Config) {
	cfg := &s.HTTP
	f.DurationVar(&s.BusAckTimeout, "bus-ack-timeout", 5*time.Second,
		"how long a publish waits for JetStream's acknowledgement before the batch answers Unavailable (the client retries with the same keys); shorter answers sooner during a leader election (ingest)")
	f.DurationVar(&s.WatchHeartbeat, "watch-heartbeat", registry.DefaultWatchHeartbeat,
		"how often the registry's schema watch sends a heartbeat; ingest drops a watch silent for three (registry)")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout,
		"disconnect a client that has not sent its request headers within this time")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout,
		"close keep-alive and HTTP/2 connections idle this long (open streams such as the schema watch are not cut)")
	f.IntVar(&cfg.MaxConns, "max-conns", server.DefaultMaxConns,
		"connections each service serves at once; more wait until one closes (negative: no cap)")
	f.Int64Var(&cfg.Limits.MaxRequestBytes, "max-request-bytes", server.DefaultMaxRequestBytes,
		"largest request body, as sent, every route of every service takes, and largest message once decompressed (gRPC, gRPC-Web, Connect); "+
			"more is answered 413 (REST) or ResourceExhausted before authentication. Ingest's event batches have --ingest-max-batch-bytes instead")
	f.IntVar(&cfg.Limits.MaxDecompressionRatio, "max-decompression-ratio", server.DefaultMaxDecompressionRatio,
		"how many times its compressed size a gzip message may inflate to, checked while inflating past the first MiB; negative turns the check off")
}
