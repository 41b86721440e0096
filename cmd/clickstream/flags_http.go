package main

import (
	"github.com/spf13/pflag"

	"github.com/clickstream-dev/clickstream/internal/server"
)

// addHTTPFlags adds the connection limits every service's server takes.
func addHTTPFlags(f *pflag.FlagSet, cfg *server.Config) {
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", server.DefaultReadHeaderTimeout,
		"disconnect a client that has not sent its request headers within this time")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout,
		"close keep-alive and HTTP/2 connections idle this long (open streams such as the schema watch are not cut)")
	f.IntVar(&cfg.MaxConns, "max-conns", server.DefaultMaxConns,
		"connections each service serves at once; more wait until one closes (negative: no cap)")
}
