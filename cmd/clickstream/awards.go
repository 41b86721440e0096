package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
	"github.com/clickstream-dev/clickstream/services/awards"
)

// awardsCLI is what the commands calling awards' admin API share.
type awardsCLI struct {
	url        string
	adminToken string
	output     string
}

func newAwardsCommand() *cobra.Command {
	c := &awardsCLI{}
	cmd := &cobra.Command{
		Use:   "awards",
		Short: "Operate awards: achievements as configuration, explain progress, backfill",
		Long: `Operate a running awards service through its admin API: apply achievements
from a YAML or JSON file (a diff is printed first), export them, and explain a
user's progress in an achievement.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + ` (what clickstream dev writes).`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&c.url, "awards", "http://"+defaultAwardsAddr, "base URL of the awards service")
	f.StringVar(&c.adminToken, "admin-token", "", "token of awards' admin API (default: the one in "+devAdminTokenFile+")")
	cmd.AddCommand(c.applyCommand(), c.exportCommand(), c.explainCommand(), c.backfillCommand(), newAwardsTokenCommand())
	return cmd
}

// client returns a Connect client of awards' admin API.
func (c *awardsCLI) client() (awardsv1connect.AwardsAdminServiceClient, error) {
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--awards %q: use the awards service's base URL, e.g. http://%s", c.url, defaultAwardsAddr)}
	}
	token, err := resolveAdminToken(c.adminToken)
	if err != nil {
		return nil, err
	}
	return awardsv1connect.NewAwardsAdminServiceClient(&http.Client{Timeout: time.Minute}, strings.TrimRight(c.url, "/"),
		connect.WithInterceptors(withAdminToken(token))), nil
}

// failed explains a failed call for a person.
func (c *awardsCLI) failed(op string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return fmt.Errorf("%s: awards at %s does not answer (%v); start it with `clickstream dev` or point --awards (or $CLICKSTREAM_AWARDS) at it", op, c.url, err)
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return fmt.Errorf("%s: %v; pass awards' admin token with --admin-token or $CLICKSTREAM_ADMIN_TOKEN", op, err)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", op, ce.Message())
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (c *awardsCLI) applyCommand() *cobra.Command {
	var (
		file         string
		dryRun       bool
		actor        string
		backfillFrom string
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update achievements from a YAML or JSON file, printing a diff first",
		Long: `Create or update every achievement of a file (the format of
services/awards/starter_achievements.yaml). Each one is validated by the
running awards service first; when any is invalid nothing is saved. The diff
of each changed achievement is printed before it is saved; achievements that
did not change are left alone, so applying the same file twice changes
nothing the second time.

With --backfill-from, each achievement the file adds also counts what users
did since that time: a backfill replays the events from then (their grants
are not notified); watch it with clickstream awards backfill or the admin API.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("-f FILE is required")}
			}
			var from time.Time
			if backfillFrom != "" {
				var err error
				if from, err = parseBackfillFrom("--backfill-from", backfillFrom); err != nil {
					return err
				}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			parsed, err := awards.ParseConfigFile(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			var (
				changed  []*awardsv1.AchievementConfig
				problems []string
			)
			for _, a := range parsed.Achievements {
				pc, err := awards.ConfigToProto(a)
				if err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				v, err := client.ValidateAchievement(ctx, &awardsv1.ValidateAchievementRequest{Config: pc})
				if err != nil {
					return c.failed("validate "+a.ID, err)
				}
				problems = append(problems, v.GetProblems()...)
				if v.GetChanges() {
					changed = append(changed, pc)
					fmt.Fprint(out, v.GetDiff())
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s is not valid, nothing was saved:\n  %s", file, strings.Join(problems, "\n  "))
			}
			if len(changed) == 0 {
				fmt.Fprintf(out, "no changes: the %d achievements of %s are as stored\n", len(parsed.Achievements), file)
				return nil
			}
			if dryRun {
				fmt.Fprintf(out, "dry run: %d of %d achievements would change\n", len(changed), len(parsed.Achievements))
				return nil
			}
			for _, pc := range changed {
				res, err := client.SaveAchievement(ctx, &awardsv1.SaveAchievementRequest{Config: pc, Actor: actor})
				if err != nil {
					return c.failed("save "+pc.GetId(), err)
				}
				fmt.Fprintf(out, "saved %s (version %d)\n", pc.GetId(), res.GetVersion())
				if res.GetVersion() == 1 && !from.IsZero() {
					b, err := client.StartBackfill(ctx, &awardsv1.StartBackfillRequest{AchievementId: pc.GetId(),
						From: timestamppb.New(from), Actor: actor})
					if err != nil {
						return c.failed("backfill "+pc.GetId(), err)
					}
					fmt.Fprintf(out, "backfill %d started: %s counts the events since %s\n", b.GetBackfill().GetId(), pc.GetId(), from.Format(time.RFC3339))
				}
			}
			fmt.Fprintf(out, "%d of %d achievements changed\n", len(changed), len(parsed.Achievements))
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file of achievements")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the diff and validate, save nothing")
	cmd.Flags().StringVar(&actor, "actor", defaultActor(), "who makes the change, recorded in the history")
	cmd.Flags().StringVar(&backfillFrom, "backfill-from", "", "for each new achievement, count the events since this time (RFC 3339 or a UTC date) with a backfill")
	return cmd
}

// defaultActor is the user running the command.
func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "clickstream awards apply"
}

func (c *awardsCLI) exportCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every configured achievement as a YAML file that apply reads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListAchievementConfigs(cmd.Context(), &awardsv1.ListAchievementConfigsRequest{})
			if err != nil {
				return c.failed("export achievements", err)
			}
			var f awards.ConfigFile
			for _, sc := range resp.GetAchievements() {
				a, err := awards.ConfigFromProto(sc.GetConfig())
				if err != nil {
					return err
				}
				f.Achievements = append(f.Achievements, a)
			}
			data, err := yaml.Marshal(f)
			if err != nil {
				return err
			}
			if file == "" || file == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return os.WriteFile(file, data, 0o644)
		},
	}
	cmd.Flags().StringVarP(&file, "output-file", "f", "", "file to write (default: standard output)")
	return cmd
}

func (c *awardsCLI) explainCommand() *cobra.Command {
	var user, achievement, output string
	cmd := &cobra.Command{
		Use:   "explain --user USER --achievement ACHIEVEMENT",
		Short: "Explain a user's progress in an achievement: the strategy tree, counters and the events behind them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" || achievement == "" {
				return usageError{errors.New("--user and --achievement are required")}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			x, err := client.Explain(cmd.Context(), &awardsv1.ExplainRequest{UserId: user, AchievementId: achievement})
			if err != nil {
				return c.failed("explain", err)
			}
			if output == "json" {
				data, err := protojson.MarshalOptions{Multiline: true}.Marshal(x)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", data)
				return err
			}
			printExplanation(cmd.OutOrStdout(), x)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user id")
	cmd.Flags().StringVar(&achievement, "achievement", "", "achievement id")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// printExplanation writes the strategy tree, indented by depth, then each
// objective's counters and contributions.
func printExplanation(w io.Writer, x *awardsv1.ExplainResponse) {
	state := "not completed"
	if x.GetCompleted() {
		state = "completed"
	}
	fmt.Fprintf(w, "%s for user %s (%s): %s of %s, %s\n\n", x.GetAchievementId(), x.GetUserId(), x.GetUserStatus(),
		num(x.GetProgress()), num(x.GetGoal()), state)
	for _, n := range x.GetNodes() {
		depth := strings.Count(n.GetPath(), "strategy[")
		label := n.GetOperation()
		if n.GetObjectiveId() != "" {
			label = "objective " + n.GetObjectiveId()
		}
		line := fmt.Sprintf("%s%s = %s", strings.Repeat("  ", depth), label, num(n.GetValue()))
		if n.GetGoal() > 0 {
			line += fmt.Sprintf(" (cap %s, uncapped %s)", num(n.GetGoal()), num(n.GetUncapped()))
		}
		fmt.Fprintln(w, line)
	}
	for _, o := range x.GetObjectives() {
		var counters []string
		for k, v := range o.GetCounters() {
			counters = append(counters, k+"="+num(v))
		}
		slices.Sort(counters)
		fmt.Fprintf(w, "\nobjective %s: progress %s, counters {%s}\n", o.GetKey(), num(o.GetProgress()), strings.Join(counters, ", "))
		for _, c := range o.GetContributions() {
			item := ""
			if c.GetItemId() != "" {
				item = " item " + c.GetItemId()
			}
			fmt.Fprintf(w, "  %s%s: %s %s (event %s)\n", c.GetContentId(), item, c.GetStatus(), num(c.GetValue()), c.GetRecordId())
		}
	}
}

func num(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", v), "0"), ".")
}
