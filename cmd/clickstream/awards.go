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
		Short: "Operate awards: achievements as configuration, explain progress, backfill, reconcile",
		Long: `Operate a running awards service through its admin API: apply achievements
from a YAML or JSON file (a diff is printed first), export them, explain a
user's progress in an achievement, and reconcile or recompute what is stored.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + ` (what clickstream dev writes).`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&c.url, "awards", "http://"+defaultAwardsAddr, "base URL of the awards service")
	f.StringVar(&c.adminToken, "admin-token", "", "token of awards' admin API (default: the one in "+devAdminTokenFile+")")
	cmd.AddCommand(c.applyCommand(), c.exportCommand(), c.explainCommand(), c.backfillCommand(), c.reconcileCommand(),
		c.recomputeCommand(), newAwardsTokenCommand())
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

func (c *awardsCLI) reconcileCommand() *cobra.Command {
	var (
		user   string
		repair bool
	)
	cmd := &cobra.Command{
		Use:   "reconcile [--user USER] [--repair]",
		Short: "Check every level (ledger, counters, objective progress, achievement progress, completion) and print each drift",
		Long: `Check what awards stores against the contribution ledger, level by level:
each user objective's counters against the sum over its ledger entries, its
progress against the rule's progress counter, each user achievement's
progress and goal against the strategy over its objectives, and its
completion against the goal and policy (a sticky achievement once granted
stays). Each drift is printed with the stored and the expected value.

With --repair the expected values are written: counters and progress (the
achievements worker then refolds), user achievements' progress and completion
(a grant or revocation is notified as the worker would).

Exit status 1 when drifts were found and not repaired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.Reconcile(cmd.Context(), &awardsv1.ReconcileRequest{UserId: user, Repair: repair})
			if err != nil {
				return c.failed("reconcile", err)
			}
			out := cmd.OutOrStdout()
			for _, d := range resp.GetDrifts() {
				fmt.Fprintln(out, driftLine(d))
			}
			found, repaired := resp.GetFound(), resp.GetRepaired()
			fmt.Fprintf(out, "%d users checked: %d drifts (%s)", resp.GetUsers(), driftTotal(found), driftCountsLine(found))
			if repair {
				fmt.Fprintf(out, ", %d repaired (%s)", driftTotal(repaired), driftCountsLine(repaired))
			}
			fmt.Fprintln(out)
			if n := resp.GetPending(); n > 0 {
				fmt.Fprintf(out, "%d user achievements not compared: the achievements worker has not folded their latest changes yet\n", n)
			}
			if n := resp.GetInactiveUsers(); n > 0 {
				fmt.Fprintf(out, "%d inactive users checked at the counters and objective progress levels only\n", n)
			}
			if left := driftTotal(found) - driftTotal(repaired); left > 0 {
				return fmt.Errorf("%d drifts found and not repaired; run clickstream awards reconcile --repair to write the expected values", left)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "only this user (default: everyone)")
	cmd.Flags().BoolVar(&repair, "repair", false, "write the expected value of every drift found")
	return cmd
}

func (c *awardsCLI) recomputeCommand() *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:   "recompute --user USER",
		Short: "Repair every drift of a user and have the achievements worker refold all their achievements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return usageError{errors.New("--user is required")}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.RecomputeUser(cmd.Context(), &awardsv1.RecomputeUserRequest{UserId: user})
			if err != nil {
				return c.failed("recompute", err)
			}
			out := cmd.OutOrStdout()
			for _, d := range resp.GetDrifts() {
				fmt.Fprintln(out, driftLine(d))
			}
			fmt.Fprintf(out, "user %s: %d corrected (%s); %d user objectives refreshed, their achievements are refolded by the achievements worker\n",
				user, resp.GetCorrected(), driftCountsLine(resp.GetRepaired()), resp.GetRecomputed())
			if n := resp.GetPending(); n > 0 {
				fmt.Fprintf(out, "%d user achievements were not compared: the achievements worker had not folded their latest changes yet (it refolds them now)\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user id")
	return cmd
}

// driftLine prints a drift as "level user achievement[/objective]: stored
// X, expected Y".
func driftLine(d *awardsv1.Drift) string {
	where := d.GetAchievementId()
	if d.GetObjectiveKey() != "" {
		where += "/" + d.GetObjectiveKey()
	}
	var stored, expected string
	switch d.GetLevel() {
	case "counters":
		stored, expected = countersText(d.GetStored()), countersText(d.GetRecomputed())
	case "completion":
		stored, expected = completedText(d.GetStoredCompleted()), completedText(d.GetExpectedCompleted())
	default:
		stored, expected = num(d.GetStoredProgress()), num(d.GetExpectedProgress())
		if d.GetLevel() == "achievement_progress" && d.GetStoredGoal() != d.GetExpectedGoal() {
			stored += " of " + num(d.GetStoredGoal())
			expected += " of " + num(d.GetExpectedGoal())
		}
	}
	if d.GetMissing() {
		stored = "missing"
	}
	line := fmt.Sprintf("%s %s %s: stored %s, expected %s", d.GetLevel(), d.GetUserId(), where, stored, expected)
	if d.GetRepaired() {
		line += " (repaired)"
	}
	return line
}

func countersText(c map[string]float64) string {
	var parts []string
	for k, v := range c {
		parts = append(parts, k+"="+num(v))
	}
	slices.Sort(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

func completedText(done bool) string {
	if done {
		return "completed"
	}
	return "not completed"
}

func driftTotal(c *awardsv1.DriftCounts) int32 {
	return c.GetCounters() + c.GetObjectiveProgress() + c.GetAchievementProgress() + c.GetCompletion()
}

func driftCountsLine(c *awardsv1.DriftCounts) string {
	return fmt.Sprintf("counters %d, objective progress %d, achievement progress %d, completion %d",
		c.GetCounters(), c.GetObjectiveProgress(), c.GetAchievementProgress(), c.GetCompletion())
}
