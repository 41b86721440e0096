package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
)

// defaultRegistryURL is where `clickstream dev` serves the registry.
const defaultRegistryURL = "http://" + defaultRegistryAddr

// registryCLI is what every `clickstream registry` command shares: where the
// registry is and how to print its answers.
type registryCLI struct {
	url    string
	output string
}

func newRegistryCommand() *cobra.Command {
	c := &registryCLI{}
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Ask the registry about events, environments, owners, usage and deviations",
		Long: `Ask a running registry about the event catalogue: events and their owners,
environments, the usage of an event, deviations and versions nobody sends.

Answers print as tables; -o json prints the registry's response as JSON.`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&c.url, "registry", defaultRegistryURL, "base URL of the registry")
	f.StringVarP(&c.output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(
		c.eventsCommand(),
		c.envsCommand(),
		c.ownersCommand(),
		c.usageCommand(),
		c.deviationsCommand(),
		c.unusedCommand(),
	)
	return cmd
}

// client returns a Connect client of the registry's read API, once the
// shared flags make sense.
func (c *registryCLI) client() (registryv1connect.RegistryServiceClient, error) {
	if c.output != "table" && c.output != "json" {
		return nil, usageError{fmt.Errorf("--output %q: use table or json", c.output)}
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--registry %q: use the registry's base URL, e.g. %s", c.url, defaultRegistryURL)}
	}
	return registryv1connect.NewRegistryServiceClient(&http.Client{Timeout: time.Minute}, strings.TrimRight(c.url, "/")), nil
}

// failed explains a failed call for a person.
func (c *registryCLI) failed(op string, err error) error {
	if connect.CodeOf(err) == connect.CodeUnavailable {
		return fmt.Errorf("%s: the registry at %s does not answer (%v); start it with `clickstream dev` or point --registry (or $CLICKSTREAM_REGISTRY) at it",
			op, c.url, err)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", op, ce.Message())
	}
	return fmt.Errorf("%s: %w", op, err)
}

// print writes resp as JSON with -o json, or as the table.
func (c *registryCLI) print(cmd *cobra.Command, resp proto.Message, table func(w io.Writer)) error {
	out := cmd.OutOrStdout()
	if c.output == "json" {
		data, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", data)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...any) {
	for i, cell := range cells {
		if i > 0 {
			fmt.Fprint(w, "\t")
		}
		fmt.Fprint(w, cell)
	}
	fmt.Fprintln(w)
}

func (c *registryCLI) eventsCommand() *cobra.Command {
	var (
		req    registryv1.ListEventsRequest
		status string
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List events with their versions and owners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := parseLifecycle(status)
			if err != nil {
				return err
			}
			req.Status = s
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListEvents(cmd.Context(), &req)
			if err != nil {
				return c.failed("list events", err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				row(w, "ID", "NAME", "VERSIONS", "OWNER", "DESCRIPTION")
				for _, e := range resp.GetEvents() {
					row(w, e.GetId(), e.GetName(), versionList(e.GetVersions()), orDash(e.GetOwner().GetTeam()), clip(e.GetDescription(), 72))
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Environment, "env", "", "only events an environment may send")
	f.StringVar(&req.OwnerTeam, "owner", "", "only events owned by a team")
	f.StringVar(&status, "status", "", "only events with a version in a status: active, deprecated or retired")
	f.StringVar(&req.Text, "text", "", "only events whose name or description contains the text")
	return cmd
}

func (c *registryCLI) envsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "envs [NAME]",
		Short: "List environments, or describe one and the versions it may send",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				resp, err := client.GetEnvironment(cmd.Context(), &registryv1.GetEnvironmentRequest{Name: args[0]})
				if err != nil {
					return c.failed("describe environment "+args[0], err)
				}
				env := resp.GetEnvironment()
				return c.print(cmd, resp, func(w io.Writer) {
					row(w, "Name:", env.GetName())
					row(w, "Description:", orDash(env.GetDescription()))
					row(w, "Created:", when(env.GetCreatedAt()))
					row(w, "May send:", fmt.Sprintf("%d event versions", len(env.GetAllowed())))
					if len(env.GetAllowed()) > 0 {
						row(w)
						row(w, "EVENT", "VERSION", "MESSAGE")
						for _, v := range env.GetAllowed() {
							row(w, v.GetEventId(), v.GetVersion(), v.GetMessageName())
						}
					}
				})
			}
			resp, err := client.ListEnvironments(cmd.Context(), &registryv1.ListEnvironmentsRequest{})
			if err != nil {
				return c.failed("list environments", err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				row(w, "NAME", "VERSIONS", "CREATED", "DESCRIPTION")
				for _, e := range resp.GetEnvironments() {
					row(w, e.GetName(), len(e.GetAllowed()), when(e.GetCreatedAt()), clip(e.GetDescription(), 72))
				}
			})
		},
	}
}

func (c *registryCLI) ownersCommand() *cobra.Command {
	var req registryv1.ListEventsRequest
	cmd := &cobra.Command{
		Use:   "owners",
		Short: "List events with the team that owns each and how to reach it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListEvents(cmd.Context(), &req)
			if err != nil {
				return c.failed("list owners", err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				row(w, "ID", "EVENT", "TEAM", "CONTACT")
				for _, e := range resp.GetEvents() {
					row(w, e.GetId(), e.GetName(), orDash(e.GetOwner().GetTeam()), orDash(e.GetOwner().GetContact()))
				}
			})
		},
	}
	cmd.Flags().StringVar(&req.OwnerTeam, "team", "", "only events owned by a team")
	return cmd
}

func (c *registryCLI) usageCommand() *cobra.Command {
	var (
		version uint32
		env     string
		hours   int
		bucket  int32
	)
	cmd := &cobra.Command{
		Use:   "usage EVENT",
		Short: "Show an event's volume, rejections and where it was last seen",
		Long: `Show an event's volume per bucket, its rejection rate and reasons over the
last --hours, and the last time each environment and app version sent it.
EVENT is the event's numeric id (2001) or its name (PhotoStatusChanged).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if hours <= 0 {
				return usageError{fmt.Errorf("--hours %d: use 1 or more", hours)}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			id, name, err := c.resolveEvent(cmd, client, args[0])
			if err != nil {
				return err
			}
			to := time.Now()
			from := to.Add(-time.Duration(hours) * time.Hour)
			resp, err := client.GetEventStats(cmd.Context(), &registryv1.GetEventStatsRequest{
				EventId: id, Version: version, Environment: env, BucketMinutes: bucket,
				From: timestamppb.New(from), To: timestamppb.New(to),
			})
			if err != nil {
				return c.failed("usage of "+name, err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				scope := name
				if version != 0 {
					scope += " v" + strconv.Itoa(int(version))
				}
				if env != "" {
					scope += " from " + env
				}
				fmt.Fprintf(w, "%s, last %d hours: %s accepted, %s rejected (%s)\n\n", scope, hours,
					group(resp.GetAccepted()), group(resp.GetRejected()), pct(resp.GetRejectionRate()))
				row(w, "FROM", "ACCEPTED", "REJECTED")
				for _, p := range resp.GetSeries() {
					row(w, when(p.GetStart()), group(p.GetAccepted()), group(p.GetRejected()))
				}
				if reasons := resp.GetRejectionsByReason(); len(reasons) > 0 {
					row(w)
					row(w, "REJECTION REASON", "REJECTED")
					keys := make([]string, 0, len(reasons))
					for k := range reasons {
						keys = append(keys, k)
					}
					slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(reasons[b], reasons[a]), cmp.Compare(a, b)) })
					for _, k := range keys {
						row(w, orDash(k), group(reasons[k]))
					}
				}
				row(w)
				row(w, "LAST SEEN", "ENVIRONMENT", "APP VERSION", "VERSION")
				if len(resp.GetLastSeen()) == 0 {
					row(w, "never", "-", "-", "-")
				}
				for _, l := range resp.GetLastSeen() {
					row(w, when(l.GetAt()), l.GetEnvironment(), orDash(l.GetAppVersion()), l.GetVersion())
				}
			})
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&version, "version", 0, "only this version of the event (0 for all)")
	f.StringVar(&env, "env", "", "only events from this environment")
	f.IntVar(&hours, "hours", 24, "hours to look back")
	f.Int32Var(&bucket, "bucket", 0, "minutes per row of the series (default 60)")
	return cmd
}

// resolveEvent takes an event id or name and returns the id and a name to
// show.
func (c *registryCLI) resolveEvent(cmd *cobra.Command, client registryv1connect.RegistryServiceClient, arg string) (uint32, string, error) {
	if id, err := strconv.ParseUint(arg, 10, 32); err == nil {
		return uint32(id), "event " + arg, nil
	}
	resp, err := client.ListEvents(cmd.Context(), &registryv1.ListEventsRequest{Text: arg})
	if err != nil {
		return 0, "", c.failed("find event "+arg, err)
	}
	for _, e := range resp.GetEvents() {
		if strings.EqualFold(e.GetName(), arg) {
			return e.GetId(), fmt.Sprintf("%s (%d)", e.GetName(), e.GetId()), nil
		}
	}
	return 0, "", usageError{fmt.Errorf("no event is named %q; list them with `clickstream registry events`", arg)}
}

func (c *registryCLI) deviationsCommand() *cobra.Command {
	var req registryv1.ListDeviationsRequest
	cmd := &cobra.Command{
		Use:   "deviations",
		Short: "List event versions behaving unlike themselves: rejections, drops, spikes, stops",
		Long: `List technical deviations (a rejection rate above --threshold in the last
--window minutes) and logical ones (volume in the window far from the same
window on each of the previous --baseline-days days, or none at all).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListDeviations(cmd.Context(), &req)
			if err != nil {
				return c.failed("list deviations", err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				if len(resp.GetDeviations()) == 0 {
					fmt.Fprintln(w, "No deviations.")
					return
				}
				row(w, "KIND", "VERSION", "ENVIRONMENT", "WHAT HAPPENED")
				for _, d := range resp.GetDeviations() {
					row(w, deviationKind(d.GetKind()), shortMessageName(d.GetMessageName()), d.GetEnvironment(), d.GetMessage())
				}
			})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&req.WindowMinutes, "window", 60, "minutes of the window, ending now")
	f.Float64Var(&req.RejectionThreshold, "threshold", 0.05, "rejection rate above which a version deviates")
	f.Int32Var(&req.BaselineDays, "baseline-days", 7, "days of the trailing baseline")
	f.Float64Var(&req.VolumeTolerance, "tolerance", 0.5, "relative distance from the baseline that is still normal")
	f.Int64Var(&req.MinBaseline, "min-baseline", 10, "ignore the volume of versions with a smaller baseline")
	return cmd
}

func (c *registryCLI) unusedCommand() *cobra.Command {
	var req registryv1.ListUnusedRequest
	cmd := &cobra.Command{
		Use:   "unused",
		Short: "List active versions nobody sent for --days: candidates to retire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListUnused(cmd.Context(), &req)
			if err != nil {
				return c.failed("list unused versions", err)
			}
			return c.print(cmd, resp, func(w io.Writer) {
				row(w, "EVENT", "VERSION", "MESSAGE", "LAST SEEN")
				for _, u := range resp.GetVersions() {
					last := "never"
					if u.GetLastSeen() != nil {
						last = when(u.GetLastSeen())
					}
					row(w, u.GetVersion().GetEventId(), u.GetVersion().GetVersion(), shortMessageName(u.GetVersion().GetMessageName()), last)
				}
			})
		},
	}
	cmd.Flags().Int32Var(&req.Days, "days", 30, "days without traffic")
	return cmd
}

// parseLifecycle reads --status.
func parseLifecycle(s string) (registryv1.LifecycleStatus, error) {
	switch strings.ToLower(s) {
	case "":
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_UNSPECIFIED, nil
	case "active":
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE, nil
	case "deprecated":
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED, nil
	case "retired":
		return registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED, nil
	}
	return 0, usageError{fmt.Errorf("--status %q: use active, deprecated or retired", s)}
}

// versionList shows versions and the status of those not active:
// "v1 deprecated, v2".
func versionList(vs []*registryv1.EventVersion) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = "v" + strconv.Itoa(int(v.GetVersion()))
		switch v.GetStatus() {
		case registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED:
			parts[i] += " deprecated"
		case registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED:
			parts[i] += " retired"
		}
	}
	return strings.Join(parts, ", ")
}

func deviationKind(k registryv1.DeviationKind) string {
	switch k {
	case registryv1.DeviationKind_DEVIATION_KIND_REJECTION_RATE:
		return "rejections"
	case registryv1.DeviationKind_DEVIATION_KIND_VOLUME_DROP:
		return "drop"
	case registryv1.DeviationKind_DEVIATION_KIND_VOLUME_SPIKE:
		return "spike"
	case registryv1.DeviationKind_DEVIATION_KIND_STOPPED:
		return "stopped"
	}
	return k.String()
}

// shortMessageName drops the package: "PhotoStatusChangedV2".
func shortMessageName(full string) string {
	return full[strings.LastIndexByte(full, '.')+1:]
}

// when formats a time for a table, in local time; "-" when unset.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().Local().Format("2006-01-02 15:04 MST")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clip shortens s to n characters.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// group writes n with thousands separators: "1,204".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + group(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// pct formats a rate: "4.3%".
func pct(rate float64) string {
	return strconv.FormatFloat(rate*100, 'f', 1, 64) + "%"
}
