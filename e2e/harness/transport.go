package harness

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// BearerClient is an HTTP client sending "Authorization: Bearer <token>"
// with every request.
func BearerClient(token string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: headerTransport{
		header: http.Header{"Authorization": {"Bearer " + token}},
		next:   http.DefaultTransport,
	}}
}

// HeaderClient is an HTTP client sending name: value with every request
// (e.g. X-Api-Key).
func HeaderClient(name, value string) *http.Client {
	return &http.Client{Transport: headerTransport{
		header: http.Header{http.CanonicalHeaderKey(name): {value}},
		next:   http.DefaultTransport,
	}}
}

// headerTransport adds headers to every request.
type headerTransport struct {
	header http.Header
	next   http.RoundTripper
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.header {
		r.Header[k] = v
	}
	return h.next.RoundTrip(r)
}

// spread sends the requests of one batch to several instances of a service:
// the first attempt of batch b to instance b mod n, each retry to the next
// instance. The batch and its attempts travel in the request's context
// (withBatch).
type spread struct {
	hosts []*url.URL
	next  http.RoundTripper
}

type batchKey struct{}

// route is one batch's place in the rotation.
type route struct {
	batch    int
	attempts atomic.Int64
}

func withBatch(ctx context.Context, batch int) context.Context {
	return context.WithValue(ctx, batchKey{}, &route{batch: batch})
}

func (s spread) RoundTrip(r *http.Request) (*http.Response, error) {
	k := 0
	if rt, ok := r.Context().Value(batchKey{}).(*route); ok {
		k = rt.batch + int(rt.attempts.Add(1)-1)
	}
	host := s.hosts[k%len(s.hosts)]
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = host.Scheme, host.Host, host.Host
	return s.next.RoundTrip(r)
}
