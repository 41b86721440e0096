package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/server"
)

// A subscription token, "cs_<id>_<random>", lets a team read its own pull
// subscription (Subscribe and AckEvents) without the admin token. It is
// shown once, at creation or rotation; only its SHA-256 is kept (32 random
// bytes, so a plain hash cannot be guessed back).

// subscriptionTokenPrefix starts every subscription token.
const subscriptionTokenPrefix = "cs_"

// NewSubscriptionToken returns a fresh subscription token.
func NewSubscriptionToken() string {
	_, token := newSecret(subscriptionTokenPrefix)
	return token
}

// subscriber is who calls Subscribe or AckEvents: the bearer token sent,
// and whether it is the admin token. subscriberGuard puts it in the
// request's context.
type subscriber struct {
	token string
	admin bool
}

type subscriberKey struct{}

// subscriberProcedures are the RPCs a subscription's own token may call,
// on gRPC, gRPC-Web and Connect.
var subscriberProcedures = []string{
	ingestv1connect.IngestAdminServiceSubscribeProcedure,
	ingestv1connect.IngestAdminServiceAckEventsProcedure,
}

// isSubscriberCall reports whether r calls Subscribe or AckEvents (REST:
// POST /v1/admin/subscriptions/{subscription}:ack).
func isSubscriberCall(r *http.Request) bool {
	for _, p := range subscriberProcedures {
		if r.URL.Path == p {
			return true
		}
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/admin/subscriptions/")
	if !ok || r.Method != http.MethodPost {
		return false
	}
	name, ok = strings.CutSuffix(name, ":ack")
	return ok && name != "" && !strings.Contains(name, "/")
}

// subscriberGuard sends calls of Subscribe and AckEvents to open, with the
// caller's token in their context (the RPCs check it: the admin token, or
// the subscription's own), and every other call to guarded.
func subscriberGuard(adminToken string, guarded, open http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isSubscriberCall(r) {
			guarded.ServeHTTP(w, r)
			return
		}
		s := subscriber{token: auth.Bearer(r)}
		if s.token == "" {
			// Refused before the body is read.
			server.WriteError(w, r, errNoSubscriberToken())
			return
		}
		s.admin = adminToken != "" && subtle.ConstantTimeCompare([]byte(s.token), []byte(adminToken)) == 1
		open.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), subscriberKey{}, s)))
	})
}

// errNoSubscriberToken answers a call of Subscribe or AckEvents without a
// token.
func errNoSubscriberToken() *connect.Error {
	return connect.NewError(connect.CodeUnauthenticated, errors.New(
		"reading a subscription needs its token or the admin token: send Authorization: Bearer <token>"))
}

// authorizeSubscriber lets the caller of Subscribe or AckEvents read the
// subscription name: with the admin token, or with name's own token. A
// call without the HTTP guard (in process) is let through, as every admin
// RPC is.
func (a *AdminService) authorizeSubscriber(ctx context.Context, subs *Subscriptions, name string) error {
	s, ok := ctx.Value(subscriberKey{}).(subscriber)
	if !ok || s.admin {
		return nil
	}
	if s.token == "" {
		return errNoSubscriberToken()
	}
	invalid := connect.NewError(connect.CodeUnauthenticated, errors.New(
		"the token is neither the admin token nor a subscription's current token (rotating a token ends the old one): ask the subscription's owner or the operator for its token"))
	if !strings.HasPrefix(s.token, subscriptionTokenPrefix) {
		return invalid
	}
	owner, err := subs.store.SubscriptionOfToken(ctx, HashSecret(s.token))
	switch {
	case errors.Is(err, ErrSubscriptionNotFound):
		return invalid
	case err != nil:
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("check the subscription token: %w", err))
	case owner != name:
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
			"the token is subscription %s's: it cannot read subscription %s (use that subscription's token)", owner, name))
	}
	return nil
}

// RotateToken gives the pull subscription name a new token and returns it;
// the old one stops working at once.
func (m *Subscriptions) RotateToken(ctx context.Context, name, actor string) (string, error) {
	sub, err := m.store.Subscription(ctx, name)
	if err != nil {
		return "", err
	}
	if sub.Delivery != DeliveryPull {
		return "", fmt.Errorf("%w: subscription %s is delivered by %s; only pull subscriptions have a token", errNotPull, name, sub.Delivery)
	}
	token := NewSubscriptionToken()
	if err := m.store.SetSubscriptionToken(ctx, name, HashSecret(token), actor); err != nil {
		return "", err
	}
	return token, nil
}
