// Package server serves one Clickstream service on one port: Connect handlers
// (gRPC, gRPC-Web and the Connect protocol), the in-process grpc-gateway for
// REST/JSON, gRPC health and server reflection, /healthz, /readyz, /metrics
// and /openapi/, on one http.Server speaking HTTP/1.1 and h2c.
//
// Plumbing: it knows no service (see layering.txt); services hand it their
// routes.
package server
