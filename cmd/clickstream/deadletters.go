package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// deadLettersCLI is what every `clickstream deadletters` command shares.
type deadLettersCLI struct {
	ingestAdminCLI
}

func newDeadLettersCommand() *cobra.Command {
	c := &deadLettersCLI{}
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List, inspect and replay the events ingest rejected",
		Long: `Every event ingest rejects is kept in the dead-letter stream with its original
bytes and the reason. List them, show one with its payload, and replay them
after a schema fix: each is validated again; accepted ones go to the event
stream and leave the dead letters, the rest stay.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + `, which ` + "`clickstream dev`" + ` writes.`,
	}
	c.register(cmd, 5*time.Minute)
	cmd.AddCommand(c.listCommand(), c.showCommand(), c.replayCommand())
	return cmd
}

// parseReason takes a reason as "MISSING_REQUIRED_FIELD", "missing-required-field"
// or the full enum name.
func parseReason(s string) (ingestv1.RejectReason, error) {
	if s == "" {
		return ingestv1.RejectReason_REJECT_REASON_UNSPECIFIED, nil
	}
	name := strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	if !strings.HasPrefix(name, "REJECT_REASON_") {
		name = "REJECT_REASON_" + name
	}
	v, ok := ingestv1.RejectReason_value[name]
	if !ok || v == 0 {
		var names []string
		for i := int32(1); ; i++ {
			n, ok := ingestv1.RejectReason_name[i]
			if !ok {
				break
			}
			names = append(names, strings.ToLower(strings.TrimPrefix(n, "REJECT_REASON_")))
		}
		return 0, usageError{fmt.Errorf("--reason %q: use one of %s", s, strings.Join(names, ", "))}
	}
	return ingestv1.RejectReason(v), nil
}

// reasonName is a reason without its enum prefix.
func reasonName(r ingestv1.RejectReason) string {
	return strings.TrimPrefix(r.String(), "REJECT_REASON_")
}

func (c *deadLettersCLI) listCommand() *cobra.Command {
	var (
		env, reason string
		limit       int32
		after       uint64
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := parseReason(reason)
			if err != nil {
				return err
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListDeadLetters(cmd.Context(), &ingestv1.ListDeadLettersRequest{
				Environment: env, Reason: r, Limit: limit, AfterSequence: after,
			})
			if err != nil {
				return c.failed("list dead letters", err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "SEQ", "RECEIVED", "ENV", "EVENT", "FORM", "REASON", "FIELD", "KEY")
				for _, dl := range resp.GetDeadLetters() {
					row(w, dl.GetSequence(), when(dl.GetReceivedAt()), dl.GetEnvironment(), orDash(shortMessageName(dl.GetEventName())),
						dl.GetPayloadForm(), reasonName(dl.GetReason()), orDash(dl.GetFieldPath()), dl.GetEventKey())
				}
				if len(resp.GetDeadLetters()) == 0 {
					row(w, "no dead letters")
				}
				if next := resp.GetNextAfterSequence(); next != 0 {
					row(w, fmt.Sprintf("more: --after %d", next))
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "only dead letters of this environment")
	f.StringVar(&reason, "reason", "", "only dead letters rejected for this reason, e.g. unknown_field")
	f.Int32Var(&limit, "limit", 100, "most dead letters to list (at most 1000)")
	f.Uint64Var(&after, "after", 0, "list those after this sequence (the next page)")
	return cmd
}

func (c *deadLettersCLI) showCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one dead letter with its original bytes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return usageError{fmt.Errorf("%q is not a dead letter's sequence: use the SEQ of `clickstream deadletters list`", args[0])}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.GetDeadLetter(cmd.Context(), &ingestv1.GetDeadLetterRequest{Sequence: seq})
			if err != nil {
				return c.failed(fmt.Sprintf("show dead letter %d", seq), err)
			}
			dl := resp.GetDeadLetter()
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "Sequence:", dl.GetSequence())
				row(w, "Key:", dl.GetEventKey())
				row(w, "Received:", when(dl.GetReceivedAt()))
				row(w, "Environment:", dl.GetEnvironment())
				row(w, "API key:", orDash(dl.GetKeyId()))
				row(w, "Event:", orDash(dl.GetEventName()))
				row(w, "Form:", dl.GetPayloadForm())
				row(w, "Reason:", reasonName(dl.GetReason()))
				row(w, "Field:", orDash(dl.GetFieldPath()))
				row(w, "Message:", dl.GetMessage())
				row(w, "Size:", fmt.Sprintf("%d bytes", dl.GetSize()))
				if dl.GetPayloadForm() == "json" {
					row(w, "Payload:", string(dl.GetPayload()))
				} else {
					row(w, "Payload:", "")
					fmt.Fprint(w, hex.Dump(dl.GetPayload()))
				}
			})
		},
	}
}

func (c *deadLettersCLI) replayCommand() *cobra.Command {
	var env, reason string
	cmd := &cobra.Command{
		Use:   "replay [SEQ...]",
		Short: "Validate dead letters again and send the valid ones on",
		Long: `Validate dead letters again with the current catalogue (after a schema fix):
accepted ones go to the event stream and leave the dead letters, the rest stay.
Without SEQ, every dead letter matching --env and --reason is replayed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseReason(reason)
			if err != nil {
				return err
			}
			req := &ingestv1.ReplayDeadLettersRequest{Environment: env, Reason: r, Actor: loginName()}
			for _, a := range args {
				seq, err := strconv.ParseUint(a, 10, 64)
				if err != nil || seq == 0 {
					return usageError{fmt.Errorf("%q is not a dead letter's sequence: use the SEQ of `clickstream deadletters list`", a)}
				}
				req.Sequences = append(req.Sequences, seq)
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ReplayDeadLetters(cmd.Context(), req)
			if err != nil {
				return c.failed("replay dead letters", err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "SEQ", "STATUS", "REASON", "FIELD", "MESSAGE")
				for _, res := range resp.GetResults() {
					status := strings.ToLower(strings.TrimPrefix(res.GetStatus().String(), "EVENT_STATUS_"))
					rej := res.GetRejection()
					reason := "-"
					if rej != nil {
						reason = reasonName(rej.GetReason())
					}
					row(w, res.GetSequence(), status, reason, orDash(rej.GetFieldPath()), orDash(clip(rej.GetMessage(), 100)))
				}
				row(w, fmt.Sprintf("%d accepted, %d still rejected", resp.GetAccepted(), resp.GetStillRejected()))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "only dead letters of this environment")
	f.StringVar(&reason, "reason", "", "only dead letters rejected for this reason, e.g. unknown_field")
	return cmd
}
