package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/types/known/timestamppb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
)

// backfillCLI is `clickstream awards backfill`; the awards URL and admin
// token are the `awards` command's.
type backfillCLI struct {
	*awardsCLI
	from, achievement string
	actor, progress   string
	notify            bool
	interval          time.Duration
}

// backfillCommand returns `clickstream awards backfill`.
func (a *awardsCLI) backfillCommand() *cobra.Command {
	c := &backfillCLI{awardsCLI: a}
	cmd := &cobra.Command{
		Use:   "backfill --from TIME",
		Short: "Replay past events into achievements (e.g. one just added) and watch the progress",
		Long: `Replay the event stream from a time through the same filters and rules as the
live consumers, for one achievement (--achievement) or every running one.
Events already applied are skipped, so a backfill never counts an event twice,
and it can overlap live processing or run again safely. The grants it makes
are marked as a backfill's and not notified unless --notify is given.

The command starts the backfill on the awards service, then shows its progress
(a progress bar on a terminal, a line per change otherwise) until it is done,
and exits non-zero when it fails. Interrupting the command does not stop the
backfill: it runs on the service.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + ` (what clickstream dev writes).`,
		Example: `  clickstream awards backfill --from 2026-11-01T00:00:00Z --achievement local-guide
  clickstream awards backfill --from 2026-11-01 --notify`,
		Args: cobra.NoArgs,
		RunE: c.run,
	}
	f := cmd.Flags()
	f.StringVar(&c.from, "from", "", "replay events published from this time on: RFC 3339 (2026-11-01T00:00:00Z) or a UTC date (2026-11-01)")
	f.StringVar(&c.achievement, "achievement", "", "only this achievement's objectives (default: every running achievement)")
	f.BoolVar(&c.notify, "notify", false, "deliver the notifications of the grants the backfill makes (suppressed by default)")
	f.StringVar(&c.actor, "actor", "", "who starts the backfill, recorded with it (default: the login name)")
	f.StringVar(&c.progress, "progress", "auto", "how to show progress: auto (a bar on a terminal, lines otherwise), bar or lines")
	f.DurationVar(&c.interval, "interval", time.Second, "how often to ask the service for progress")
	return cmd
}

// parseBackfillFrom reads the time to replay events from, given as flag.
func parseBackfillFrom(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usageError{fmt.Errorf("%s is required: the time to replay events from, e.g. %s 2026-11-01T00:00:00Z", flag, flag)}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Errorf("%s %q: use RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", flag, s)}
}

func (c *backfillCLI) run(cmd *cobra.Command, _ []string) error {
	from, err := parseBackfillFrom("--from", c.from)
	if err != nil {
		return err
	}
	if c.interval <= 0 {
		return usageError{fmt.Errorf("--interval %s: use a positive duration, e.g. 1s", c.interval)}
	}
	out := cmd.OutOrStdout()
	var show backfillProgress
	switch c.progress {
	case "auto":
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			show = &backfillBar{w: out}
		} else {
			show = &backfillLines{w: out}
		}
	case "bar":
		show = &backfillBar{w: out}
	case "lines":
		show = &backfillLines{w: out}
	default:
		return usageError{fmt.Errorf("--progress %q: use auto, bar or lines", c.progress)}
	}
	if c.actor == "" {
		c.actor = cmp.Or(loginName(), "clickstream-cli")
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	started, err := client.StartBackfill(ctx, &awardsv1.StartBackfillRequest{
		AchievementId: c.achievement, From: timestamppb.New(from), Notify: c.notify, Actor: c.actor,
	})
	if err != nil {
		return c.failed("start the backfill", err)
	}
	b := started.GetBackfill()
	what := "every running achievement"
	if b.GetAchievementId() != "" {
		what = "achievement " + b.GetAchievementId()
	}
	notifications := "suppressed"
	if b.GetNotify() {
		notifications = "delivered"
	}
	fmt.Fprintf(out, "Backfill %d started: %s, events from %s, notifications of its grants %s.\n",
		b.GetId(), what, b.GetFrom().AsTime().Format(time.RFC3339), notifications)

	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for b.GetState() == "running" {
		show.update(b)
		select {
		case <-ctx.Done():
			show.stop()
			return fmt.Errorf("stopped watching backfill %d; it keeps running on the awards service", b.GetId())
		case <-tick.C:
		}
		resp, err := client.GetBackfill(ctx, &awardsv1.GetBackfillRequest{Id: b.GetId()})
		if err != nil {
			show.stop()
			return c.failed(fmt.Sprintf("progress of backfill %d", b.GetId()), err)
		}
		b = resp.GetBackfill()
	}
	show.update(b)
	show.stop()
	summary := fmt.Sprintf("%d of %d events replayed, %d skipped (already applied)", b.GetDone(), b.GetTotal(), b.GetSkipped())
	if b.GetState() != "done" {
		return fmt.Errorf("backfill %d %s after %s: %s", b.GetId(), b.GetState(), summary, b.GetError())
	}
	fmt.Fprintf(out, "Backfill %d done: %s.\n", b.GetId(), summary)
	return nil
}

// backfillProgress shows a backfill's progress.
type backfillProgress interface {
	update(b *awardsv1.Backfill)
	stop()
}

// backfillLines prints a line whenever the progress changed: for logs and
// pipes.
type backfillLines struct {
	w    io.Writer
	last string
}

func (p *backfillLines) update(b *awardsv1.Backfill) {
	line := fmt.Sprintf("backfill %d %s: %d", b.GetId(), b.GetState(), b.GetDone())
	if b.GetTotal() > 0 {
		line += fmt.Sprintf(" of %d events (%d%%)", b.GetTotal(), b.GetDone()*100/b.GetTotal())
	} else {
		line += " events"
	}
	line += fmt.Sprintf(", %d skipped", b.GetSkipped())
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

func (p *backfillLines) stop() {}

// backfillBar draws a progress bar: for a terminal.
type backfillBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	max int64
}

func (p *backfillBar) update(b *awardsv1.Backfill) {
	total := int64(b.GetTotal())
	if total == 0 {
		total = -1 // not counted yet: a spinner
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(fmt.Sprintf("backfill %d", b.GetId())),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
		p.max = total
	}
	if total != p.max {
		p.bar.ChangeMax64(total)
		p.max = total
	}
	_ = p.bar.Set64(int64(b.GetDone()))
	if b.GetState() == "done" {
		_ = p.bar.Finish()
	}
}

func (p *backfillBar) stop() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}
