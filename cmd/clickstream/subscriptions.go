package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/bus/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// subscriptionsCLI is what every `clickstream subscriptions` command shares.
type subscriptionsCLI struct {
	ingestAdminCLI
}

func newSubscriptionsCommand() *cobra.Command {
	c := &subscriptionsCLI{}
	cmd := &cobra.Command{
		Use:     "subscriptions",
		Aliases: []string{"subscription", "subs"},
		Short:   "Create, list and tail subscriptions: a team's stream of the events it chose",
		Long: `A subscription delivers exactly the events a team asked for — event versions
from chosen environments — by one of three deliveries:

  pull     a Subscribe stream (gRPC/Connect) with acks; a subscriber that
           reconnects resumes right after its last ack (` + "`subscriptions tail`" + ` is one)
  webhook  ingest POSTs each event to a URL, signed with HMAC-SHA256
           (Clickstream-Signature), retried with backoff, parked after
           --max-failures failed attempts in a row until resumed
  durable  a plain JetStream durable consumer on the EVENTS stream the team
           reads with any NATS client

Events are JSON (the EventRecord with its payload decoded by the registry's
schemas) or the binary clickstream.bus.v1.EventRecord. Each subscription's lag
is in ` + "`subscriptions list`" + ` and in the metric clickstream_ingest_subscription_lag.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + `, which ` + "`clickstream dev`" + ` writes. A pull subscription also has
its own token, printed once by ` + "`create`" + ` and ` + "`rotate-token`" + `: ` + "`tail --token`" + `
($CLICKSTREAM_SUBSCRIPTION_TOKEN) reads that subscription with it, and nothing else.`,
	}
	c.register(cmd, time.Minute)
	cmd.AddCommand(c.createCommand(), c.listCommand(), c.tailCommand(), c.rotateTokenCommand(),
		c.stateCommand("pause", "Pause a subscription: every delivery stops, events wait as lag"),
		c.stateCommand("resume", "Resume a paused or parked subscription where it stopped"),
		c.stateCommand("delete", "Delete a subscription and its durable consumer"))
	return cmd
}

var deliveryNames = map[string]ingestv1.SubscriptionDelivery{
	"pull":    ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_PULL,
	"webhook": ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_WEBHOOK,
	"durable": ingestv1.SubscriptionDelivery_SUBSCRIPTION_DELIVERY_DURABLE,
}

var formatNames = map[string]ingestv1.SubscriptionFormat{
	"":       ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_UNSPECIFIED,
	"json":   ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_JSON,
	"binary": ingestv1.SubscriptionFormat_SUBSCRIPTION_FORMAT_BINARY,
}

// parseSubscribedEvent reads "PhotoStatusChanged" or "PhotoStatusChanged:1,2".
func parseSubscribedEvent(s string) (*ingestv1.SubscribedEvent, error) {
	name, list, hasVersions := strings.Cut(s, ":")
	ev := &ingestv1.SubscribedEvent{Name: strings.TrimSpace(name)}
	if ev.Name == "" {
		return nil, fmt.Errorf("--event %q: name the event, e.g. PhotoStatusChanged or PhotoStatusChanged:1,2", s)
	}
	if hasVersions {
		for _, v := range strings.Split(list, ",") {
			n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(v), "v"), 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("--event %q: versions are numbers from 1, e.g. PhotoStatusChanged:1,2", s)
			}
			ev.Versions = append(ev.Versions, uint32(n))
		}
	}
	return ev, nil
}

func (c *subscriptionsCLI) createCommand() *cobra.Command {
	var (
		team, delivery, format, webhook string
		events, envs                    []string
		maxFailures                     int32
	)
	cmd := &cobra.Command{
		Use:   "create NAME --team TEAM --event EVENT[:VERSIONS] [--env ENV] --delivery pull|webhook|durable",
		Short: "Create a subscription; a pull subscription's token and a webhook's signing secret are printed once",
		Example: `  clickstream subscriptions create photos-web --team moderation --event PhotoStatusChanged --env web --delivery pull
  clickstream subscriptions create photo-hook --team moderation --event PhotoStatusChanged:2 --env web \
      --delivery webhook --webhook-url https://moderation.example/hooks/photos --format json
  clickstream subscriptions create views --team search --event ItemView --delivery durable`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sub := &ingestv1.Subscription{Name: args[0], OwnerTeam: team, Environments: envs}
			if team == "" {
				return usageError{errors.New("--team is required: the team that owns the subscription")}
			}
			if len(events) == 0 {
				return usageError{errors.New("--event is required: the events to deliver, e.g. --event PhotoStatusChanged (repeat it for more)")}
			}
			for _, e := range events {
				ev, err := parseSubscribedEvent(e)
				if err != nil {
					return usageError{err}
				}
				sub.Events = append(sub.Events, ev)
			}
			var ok bool
			if sub.Delivery, ok = deliveryNames[delivery]; !ok {
				return usageError{fmt.Errorf("--delivery %q: use pull, webhook or durable", delivery)}
			}
			if sub.Format, ok = formatNames[format]; !ok {
				return usageError{fmt.Errorf("--format %q: use json or binary", format)}
			}
			if webhook != "" || maxFailures != 0 {
				sub.Webhook = &ingestv1.Webhook{Url: webhook, MaxFailures: maxFailures}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.CreateSubscription(cmd.Context(), &ingestv1.CreateSubscriptionRequest{Subscription: sub, Actor: loginName()})
			if err != nil {
				return c.failed("create subscription "+args[0], err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				s := resp.GetSubscription()
				row(w, "Subscription:", s.GetName())
				row(w, "Team:", s.GetOwnerTeam())
				row(w, "Delivery:", deliveryName(s.GetDelivery()))
				row(w, "Format:", formatName(s.GetFormat()))
				row(w, "Subjects:", strings.Join(s.GetFilterSubjects(), " "))
				row(w, "Consumer:", s.GetConsumer()+" on stream EVENTS")
				if resp.GetSubscriptionToken() != "" {
					row(w, "Token:", resp.GetSubscriptionToken())
					row(w, "", "shown once: give it to team "+s.GetOwnerTeam()+"; it reads and acks this subscription only, e.g.")
					row(w, "", "CLICKSTREAM_SUBSCRIPTION_TOKEN=<token> clickstream subscriptions tail "+s.GetName())
				}
				if resp.GetWebhookSecret() != "" {
					row(w, "Webhook:", s.GetWebhook().GetUrl())
					row(w, "Secret:", resp.GetWebhookSecret())
					row(w, "", "shown once: verify Clickstream-Signature = sha256=hex(HMAC-SHA256(secret, Clickstream-Timestamp + \".\" + body))")
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&team, "team", "", "the team that owns the subscription (required)")
	f.StringArrayVar(&events, "event", nil, "an event to deliver, EVENT or EVENT:V1,V2 (repeatable; required)")
	f.StringArrayVar(&envs, "env", nil, "a sending environment (repeatable; default every environment)")
	f.StringVar(&delivery, "delivery", "pull", "pull, webhook or durable")
	f.StringVar(&format, "format", "", "json or binary (default json; durable is always binary)")
	f.StringVar(&webhook, "webhook-url", "", "where a webhook subscription POSTs events")
	f.Int32Var(&maxFailures, "max-failures", 0, "failed attempts in a row before a webhook is parked (default 10)")
	return cmd
}

func deliveryName(d ingestv1.SubscriptionDelivery) string {
	return strings.ToLower(strings.TrimPrefix(d.String(), "SUBSCRIPTION_DELIVERY_"))
}

func formatName(f ingestv1.SubscriptionFormat) string {
	return strings.ToLower(strings.TrimPrefix(f.String(), "SUBSCRIPTION_FORMAT_"))
}

func stateName(s ingestv1.SubscriptionState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SUBSCRIPTION_STATE_"))
}

func subscribedEvents(s *ingestv1.Subscription) string {
	var out []string
	for _, ev := range s.GetEvents() {
		name := ev.GetName()
		if len(ev.GetVersions()) > 0 {
			var vs []string
			for _, v := range ev.GetVersions() {
				vs = append(vs, strconv.FormatUint(uint64(v), 10))
			}
			name += ":" + strings.Join(vs, ",")
		}
		out = append(out, name)
	}
	return strings.Join(out, " ")
}

func (c *subscriptionsCLI) listCommand() *cobra.Command {
	var req ingestv1.ListSubscriptionsRequest
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List subscriptions with their lag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListSubscriptions(cmd.Context(), &req)
			if err != nil {
				return c.failed("list subscriptions", err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				if len(resp.GetSubscriptions()) == 0 {
					row(w, "no subscriptions")
					return
				}
				row(w, "NAME", "TEAM", "EVENTS", "ENVIRONMENTS", "DELIVERY", "FORMAT", "STATE", "LAG", "UNACKED", "CONSUMER")
				for _, s := range resp.GetSubscriptions() {
					envs := strings.Join(s.GetEnvironments(), " ")
					if envs == "" {
						envs = "*"
					}
					state := stateName(s.GetState())
					if s.GetParkedReason() != "" {
						state += " (" + clip(s.GetParkedReason(), 60) + ")"
					}
					lag, unacked := "?", "?"
					if l := s.GetLag(); l != nil {
						lag, unacked = strconv.FormatUint(l.GetPending(), 10), strconv.FormatUint(l.GetAckPending(), 10)
					}
					row(w, s.GetName(), s.GetOwnerTeam(), subscribedEvents(s), envs, deliveryName(s.GetDelivery()),
						formatName(s.GetFormat()), state, lag, unacked, s.GetConsumer())
				}
			})
		},
	}
	cmd.Flags().StringVar(&req.OwnerTeam, "team", "", "only this team's subscriptions")
	return cmd
}

func (c *subscriptionsCLI) stateCommand(verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			ctx, name, actor := cmd.Context(), args[0], loginName()
			var sub *ingestv1.Subscription
			switch verb {
			case "pause":
				var resp *ingestv1.PauseSubscriptionResponse
				if resp, err = client.PauseSubscription(ctx, &ingestv1.PauseSubscriptionRequest{Name: name, Actor: actor}); err == nil {
					sub = resp.GetSubscription()
				}
			case "resume":
				var resp *ingestv1.ResumeSubscriptionResponse
				if resp, err = client.ResumeSubscription(ctx, &ingestv1.ResumeSubscriptionRequest{Name: name, Actor: actor}); err == nil {
					sub = resp.GetSubscription()
				}
			case "delete":
				_, err = client.DeleteSubscription(ctx, &ingestv1.DeleteSubscriptionRequest{Name: name, Actor: actor})
			}
			if err != nil {
				return c.failed(verb+" subscription "+name, err)
			}
			if sub == nil {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "subscription %s deleted\n", name)
				return err
			}
			return c.print.print(cmd, sub, func(w io.Writer) {
				row(w, "Subscription:", sub.GetName())
				row(w, "State:", stateName(sub.GetState()))
			})
		},
	}
}

// streamingAdminToken sends the admin token on streaming calls, which the
// unary interceptor of the other commands does not see.
type streamingAdminToken struct{ token string }

func (s streamingAdminToken) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return withAdminToken(s.token)(next)
}

func (s streamingAdminToken) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if s.token != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+s.token)
		}
		return conn
	}
}

func (s streamingAdminToken) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// rotateTokenCommand is `subscriptions rotate-token NAME`.
func (c *subscriptionsCLI) rotateTokenCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-token NAME",
		Short: "Give a pull subscription a new token, printed once; the old one stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.RotateSubscriptionToken(cmd.Context(), &ingestv1.RotateSubscriptionTokenRequest{Name: args[0], Actor: loginName()})
			if err != nil {
				return c.failed("rotate the token of subscription "+args[0], err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "Subscription:", args[0])
				row(w, "Token:", resp.GetSubscriptionToken())
				row(w, "", "shown once; the previous token no longer works")
			})
		},
	}
}

// subscriptionTokenEnv holds the token `subscriptions tail` reads with
// when --token is not given.
const subscriptionTokenEnv = "CLICKSTREAM_SUBSCRIPTION_TOKEN"

func (c *subscriptionsCLI) tailCommand() *cobra.Command {
	var (
		limit    int
		noAck    bool
		subToken string
	)
	cmd := &cobra.Command{
		Use:   "tail NAME",
		Short: "Print a pull subscription's events live, acknowledging each batch once printed",
		Long: `Prints a pull subscription's events as they come, one a line: the JSON
document of a JSON subscription, the EventRecord in JSON of a binary one. Each
batch is acknowledged once printed (not with --no-ack), so the next tail, or
the team's own subscriber, resumes after it. Stops after --max events, or on
Ctrl-C. With --token ($` + subscriptionTokenEnv + `), the subscription's own
token, it needs no admin token.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := c.client(); err != nil {
				return err
			}
			if subToken == "" {
				subToken = strings.TrimSpace(os.Getenv(subscriptionTokenEnv))
			}
			token := subToken
			if token == "" {
				var err error
				if token, err = resolveAdminToken(c.adminToken); err != nil {
					return err
				}
			}
			failed := func(op string, err error) error {
				if code := connect.CodeOf(err); subToken != "" && (code == connect.CodeUnauthenticated || code == connect.CodePermissionDenied) {
					return fmt.Errorf("%s: %v; check --token ($%s): it must be this subscription's current token (rotate-token prints a new one)", op, err, subscriptionTokenEnv)
				}
				return c.failed(op, err)
			}
			// No client timeout: the stream lasts until stopped.
			client := ingestv1connect.NewIngestAdminServiceClient(&http.Client{}, strings.TrimRight(c.ingest, "/"),
				connect.WithInterceptors(streamingAdminToken{token: token}))
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			stream, err := client.Subscribe(ctx, &ingestv1.SubscribeRequest{Subscription: args[0]})
			if err != nil {
				return failed("tail subscription "+args[0], err)
			}
			defer stream.Close()
			out := cmd.OutOrStdout()
			printed := 0
			for stream.Receive() {
				var tokens []string
				for _, ev := range stream.Msg().GetEvents() {
					if limit > 0 && printed == limit {
						break
					}
					line := ev.GetJson()
					if rec := ev.GetRecord(); rec != nil {
						r := &busv1.EventRecord{}
						if err := proto.Unmarshal(rec, r); err != nil {
							return fmt.Errorf("tail subscription %s: event %d: %w", args[0], ev.GetSequence(), err)
						}
						b, err := protojson.Marshal(r)
						if err != nil {
							return err
						}
						line = string(b)
					}
					if _, err := fmt.Fprintln(out, line); err != nil {
						return err
					}
					tokens = append(tokens, ev.GetAckToken())
					printed++
				}
				if len(tokens) > 0 && !noAck {
					ackCtx, cancelAck := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
					_, err := client.AckEvents(ackCtx, &ingestv1.AckEventsRequest{Subscription: args[0], AckTokens: tokens[len(tokens)-1:]})
					cancelAck()
					if err != nil {
						return failed("acknowledge", err)
					}
				}
				if limit > 0 && printed == limit {
					return nil
				}
			}
			if err := stream.Err(); err != nil && ctx.Err() == nil {
				return failed("tail subscription "+args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "max", 0, "stop after this many events (0: until Ctrl-C)")
	cmd.Flags().BoolVar(&noAck, "no-ack", false, "do not acknowledge: the events are delivered again to the next subscriber")
	cmd.Flags().StringVar(&subToken, "token", "", "the subscription's own token instead of the admin token (default $"+subscriptionTokenEnv+")")
	return cmd
}
