// Package ingestclient is the Go client of Clickstream ingest for partners
// and backends: it sends events over gRPC, gRPC-Web or the Connect protocol,
// gives every event an idempotency key before the first attempt, retries
// with backoff on errors a retry can fix (with the same keys, so a retried
// event is stored once), and answers one result per event.
//
//	c := ingestclient.New("https://ingest.example.com", ingestclient.WithAPIKey(secret))
//	ev, err := ingestclient.Typed(&eventsv1.ItemViewV2{...})
//	results, err := c.Send(ctx, ev)
//
// For a steady stream of events, a Batcher buffers them and sends batches.
//
// It imports only generated code and plumbing-free libraries a partner's
// build can take: never a service, platform, or internal/ code that would
// pull a server into a partner's binary.
package ingestclient
