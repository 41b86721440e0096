package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// SetSubscriptions answers the subscription RPCs with subs.
func (a *AdminService) SetSubscriptions(subs *Subscriptions) { a.subs = subs }

// subscriptions is a.subs, or Unimplemented without.
func (a *AdminService) subscriptions() (*Subscriptions, error) {
	if a.subs == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("subscriptions need PostgreSQL and the bus: run ingest with both"))
	}
	return a.subs, nil
}

// subscriptionError gives err the code a client acts on.
func subscriptionError(err error) error {
	var ce *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.Is(err, ErrSubscriptionNotFound):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("%w: list them with ListSubscriptions", err))
	case errors.Is(err, ErrSubscriptionExists):
		return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("%w: choose another name, or delete it first", err))
	case errors.Is(err, errInvalidSubscription), errors.Is(err, errBadToken):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, errNotPull), errors.Is(err, errNotActive):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeCanceled, err)
	}
	return connect.NewError(connect.CodeUnavailable, err)
}

var deliveries = map[ingestv1.SubscriptionDelivery]Delivery{
	ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL:    DeliveryPull,
	ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK: DeliveryWebhook,
	ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_DURABLE: DeliveryDurable,
}

var formats = map[ingestv1.SubscriptionFormat]Format{
	ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON:   FormatJSON,
	ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY: FormatBinary,
}

var states = map[SubscriptionState]ingestv1.SubscriptionState{
	StateActive: ingestv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE,
	StatePaused: ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PAUSED,
	StateParked: ingestv1.SubscriptionState_SUBSCRIPTION_STATE_PARKED,
}

// subscriptionProto is sub as the API shows it (never the webhook secret).
func subscriptionProto(sub Subscription, lag *ingestv1.SubscriptionLag) *ingestv1.Subscription {
	out := &ingestv1.Subscription{
		Name: sub.Name, OwnerTeam: sub.OwnerTeam, Environments: sub.Environments,
		Consumer: sub.Consumer(), State: states[sub.State], ParkedReason: sub.ParkedReason,
		CreatedAt: timestamppb.New(sub.CreatedAt), CreatedBy: sub.CreatedBy, Lag: lag,
	}
	for k, v := range deliveries {
		if v == sub.Delivery {
			out.Delivery = k
		}
	}
	for k, v := range formats {
		if v == sub.Format {
			out.Format = k
		}
	}
	for _, ev := range sub.Events {
		out.Events = append(out.Events, &ingestv1.SubscribedEvent{Name: ev.Name, Versions: ev.Versions})
	}
	if sub.Delivery == DeliveryWebhook {
		out.Webhook = &ingestv1.Webhook{Url: sub.WebhookURL, MaxFailures: int32(sub.MaxFailures)}
	}
	out.FilterSubjects, _ = sub.FilterSubjects()
	return out
}

// CreateSubscription implements IngestAdminService.CreateSubscription.
func (a *AdminService) CreateSubscription(ctx context.Context, req *ingestv1.CreateSubscriptionRequest) (*ingestv1.CreateSubscriptionResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	if _, err := a.svc.waitCatalogue(ctx); err != nil {
		return nil, err
	}
	in := req.GetSubscription()
	sub := Subscription{
		Name: strings.TrimSpace(in.GetName()), OwnerTeam: strings.TrimSpace(in.GetOwnerTeam()),
		Environments: in.GetEnvironments(), Delivery: deliveries[in.GetDelivery()], Format: formats[in.GetFormat()],
		WebhookURL: in.GetWebhook().GetUrl(), MaxFailures: int(in.GetWebhook().GetMaxFailures()), CreatedBy: req.GetActor(),
	}
	for _, ev := range in.GetEvents() {
		sub.Events = append(sub.Events, SubscribedEvent{Name: strings.TrimSpace(ev.GetName()), Versions: ev.GetVersions()})
	}
	if sub.Delivery == DeliveryWebhook {
		sub.WebhookSecret = newWebhookSecret()
	}
	var token string
	if sub.Delivery == DeliveryPull {
		token = NewSubscriptionToken()
		sub.TokenHash = HashSecret(token)
	}
	created, err := subs.Create(ctx, sub)
	if err != nil {
		return nil, subscriptionError(err)
	}
	a.log.Info("subscription created", "subscription", created.Name, "team", created.OwnerTeam, "delivery", created.Delivery, "actor", req.GetActor())
	return &ingestv1.CreateSubscriptionResponse{
		Subscription:      subscriptionProto(created, subs.Lag(ctx, created)),
		WebhookSecret:     sub.WebhookSecret,
		SubscriptionToken: token,
	}, nil
}

// RotateSubscriptionToken implements IngestAdminService.RotateSubscriptionToken.
func (a *AdminService) RotateSubscriptionToken(ctx context.Context, req *ingestv1.RotateSubscriptionTokenRequest) (*ingestv1.RotateSubscriptionTokenResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	token, err := subs.RotateToken(ctx, req.GetName(), req.GetActor())
	if err != nil {
		return nil, subscriptionError(err)
	}
	a.log.Info("subscription token rotated", "subscription", req.GetName(), "actor", req.GetActor())
	return &ingestv1.RotateSubscriptionTokenResponse{SubscriptionToken: token}, nil
}

// ListSubscriptions implements IngestAdminService.ListSubscriptions.
func (a *AdminService) ListSubscriptions(ctx context.Context, req *ingestv1.ListSubscriptionsRequest) (*ingestv1.ListSubscriptionsResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	list, err := subs.List(ctx, strings.TrimSpace(req.GetOwnerTeam()))
	if err != nil {
		return nil, subscriptionError(err)
	}
	resp := &ingestv1.ListSubscriptionsResponse{}
	for _, sub := range list {
		resp.Subscriptions = append(resp.Subscriptions, subscriptionProto(sub, subs.Lag(ctx, sub)))
	}
	return resp, nil
}

// GetSubscription implements IngestAdminService.GetSubscription.
func (a *AdminService) GetSubscription(ctx context.Context, req *ingestv1.GetSubscriptionRequest) (*ingestv1.GetSubscriptionResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	sub, lag, err := subs.Get(ctx, req.GetName())
	if err != nil {
		return nil, subscriptionError(err)
	}
	return &ingestv1.GetSubscriptionResponse{Subscription: subscriptionProto(sub, lag)}, nil
}

// PauseSubscription implements IngestAdminService.PauseSubscription.
func (a *AdminService) PauseSubscription(ctx context.Context, req *ingestv1.PauseSubscriptionRequest) (*ingestv1.PauseSubscriptionResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	sub, err := subs.Pause(ctx, req.GetName(), req.GetActor())
	if err != nil {
		return nil, subscriptionError(err)
	}
	a.log.Info("subscription paused", "subscription", sub.Name, "actor", req.GetActor())
	return &ingestv1.PauseSubscriptionResponse{Subscription: subscriptionProto(sub, subs.Lag(ctx, sub))}, nil
}

// ResumeSubscription implements IngestAdminService.ResumeSubscription.
func (a *AdminService) ResumeSubscription(ctx context.Context, req *ingestv1.ResumeSubscriptionRequest) (*ingestv1.ResumeSubscriptionResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	sub, err := subs.Resume(ctx, req.GetName(), req.GetActor())
	if err != nil {
		return nil, subscriptionError(err)
	}
	a.log.Info("subscription resumed", "subscription", sub.Name, "actor", req.GetActor())
	return &ingestv1.ResumeSubscriptionResponse{Subscription: subscriptionProto(sub, subs.Lag(ctx, sub))}, nil
}

// DeleteSubscription implements IngestAdminService.DeleteSubscription.
func (a *AdminService) DeleteSubscription(ctx context.Context, req *ingestv1.DeleteSubscriptionRequest) (*ingestv1.DeleteSubscriptionResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	if err := subs.Delete(ctx, req.GetName()); err != nil {
		return nil, subscriptionError(err)
	}
	a.log.Info("subscription deleted", "subscription", req.GetName(), "actor", req.GetActor())
	return &ingestv1.DeleteSubscriptionResponse{}, nil
}

// AckEvents implements IngestAdminService.AckEvents.
func (a *AdminService) AckEvents(ctx context.Context, req *ingestv1.AckEventsRequest) (*ingestv1.AckEventsResponse, error) {
	subs, err := a.subscriptions()
	if err != nil {
		return nil, err
	}
	if err := a.authorizeSubscriber(ctx, subs, req.GetSubscription()); err != nil {
		return nil, err
	}
	n, err := subs.Ack(ctx, req.GetSubscription(), req.GetAckTokens())
	if err != nil {
		return nil, subscriptionError(err)
	}
	return &ingestv1.AckEventsResponse{Acknowledged: int32(n)}, nil
}

// Subscribe implements IngestAdminService.Subscribe for grpc-go.
func (a *AdminService) Subscribe(req *ingestv1.SubscribeRequest, stream grpc.ServerStreamingServer[ingestv1.SubscribeResponse]) error {
	return a.subscribe(stream.Context(), req, stream.Send)
}

func (a *AdminService) subscribe(ctx context.Context, req *ingestv1.SubscribeRequest, send func(*ingestv1.SubscribeResponse) error) error {
	subs, err := a.subscriptions()
	if err != nil {
		return err
	}
	if err := a.authorizeSubscriber(ctx, subs, req.GetSubscription()); err != nil {
		return err
	}
	return subscriptionError(subs.Subscribe(ctx, req.GetSubscription(), int(req.GetMaxBatch()), send))
}

// connectAdmin is the admin API for Connect: `simple` gives unary RPCs the
// grpc-go signature, and the one streaming RPC, Subscribe, is adapted here.
type connectAdmin struct{ *AdminService }

var _ ingestv1connect.IngestAdminServiceHandler = connectAdmin{}

// Subscribe implements IngestAdminService.Subscribe for Connect.
func (c connectAdmin) Subscribe(ctx context.Context, req *ingestv1.SubscribeRequest, stream *connect.ServerStream[ingestv1.SubscribeResponse]) error {
	return c.subscribe(ctx, req, stream.Send)
}
