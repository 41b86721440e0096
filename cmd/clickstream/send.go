package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clickstream-dev/clickstream/client/ingestclient"
	// The event catalogue's Go types, so that a full protojson Event can
	// carry a typed event in "typed" with its "@type".
	_ "github.com/clickstream-dev/clickstream/gen/go/clickstream/events/v1"
	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// defaultIngestURL is where `clickstream dev` serves ingest.
const defaultIngestURL = "http://" + defaultIngestAddr

// maxLineBytes bounds one JSON line of `clickstream send`.
const maxLineBytes = 16 << 20

type sendOptions struct {
	file     string
	ingest   string
	apiKey   string
	batch    int
	protocol string
}

func newSendCommand() *cobra.Command {
	var o sendOptions
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send events from JSON lines to ingest and report each verdict",
		Long: `Send events, one JSON object per line, from a file or standard input to
ingest, in batches, and print a summary and every rejection.

Each line is one of:
  {"name":"clickstream.events.v1.ItemViewV2","data":{...},"idempotencyKey":"..."}
  {"eventId":1001,"version":2,"data":{...},"idempotencyKey":"..."}
  a whole clickstream.ingest.v1.Event in protobuf JSON, e.g.
  {"idempotencyKey":"k1","mobile":{"eventId":1001,"version":2,"params":{"item_id":"7"}}}
  {"typed":{"@type":"type.googleapis.com/clickstream.events.v1.ItemViewV2","itemId":"7"}}

"data" holds the event's fields in protobuf JSON. An event without an
idempotency key gets one before it is first sent, so batches that fail with a
retryable error are sent again without storing an event twice.

The API key is --api-key, else $CLICKSTREAM_API_KEY, else the file ingest-key
in the dev data directory (.clickstream, or $CLICKSTREAM_DATA_DIR) when it
exists.

Exit status: 0 when every event was stored, 1 when a line was not valid JSON
or an event was rejected or could not be sent, 2 on usage errors.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSend(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "-", `JSON lines to send; "-" reads standard input`)
	f.StringVar(&o.ingest, "ingest", defaultIngestURL, "base URL of the ingest service")
	f.StringVar(&o.apiKey, "api-key", "", "ingest API key; default: <data-dir>/ingest-key of the dev stack if it exists")
	f.IntVar(&o.batch, "batch", 100, "events per batch")
	f.StringVar(&o.protocol, "protocol", "connect", "protocol: connect, grpc or grpc-web")
	return cmd
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

// ingestAPIKey is flag, else the dev stack's key file when it exists.
func ingestAPIKey(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	dir := os.Getenv(envName("data-dir"))
	if dir == "" {
		dir = ".clickstream"
	}
	data, err := os.ReadFile(filepath.Join(dir, "ingest-key"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read the dev API key: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// sendTally counts the verdicts of a send run.
type sendTally struct {
	lines, badLines, sent, accepted, duplicates, rejected, failed int
}

func runSend(cmd *cobra.Command, o sendOptions) error {
	protocol, err := ingestclient.ParseProtocol(o.protocol)
	if err != nil {
		return usageError{fmt.Errorf("--protocol: %w", err)}
	}
	if o.batch < 1 {
		return usageError{fmt.Errorf("--batch %d: send at least 1 event per batch", o.batch)}
	}
	in := cmd.InOrStdin()
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return usageError{fmt.Errorf("--file: %w", err)}
		}
		defer f.Close()
		in = f
	}
	key, err := ingestAPIKey(o.apiKey)
	if err != nil {
		return err
	}
	client := ingestclient.New(o.ingest, ingestclient.WithProtocol(protocol), ingestclient.WithAPIKey(key))
	out := cmd.OutOrStdout()

	var (
		tally  sendTally
		batch  []*ingestv1.Event
		lineOf []int // line number of each event in batch
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		results, err := client.Send(cmd.Context(), batch...)
		tally.sent += len(batch)
		if err != nil {
			tally.failed += len(batch)
			return fmt.Errorf("send the events of lines %d-%d to %s: %w", lineOf[0], lineOf[len(lineOf)-1], o.ingest, err)
		}
		for i, r := range results {
			switch r.Status {
			case ingestv1.EventStatus_EVENT_STATUS_ACCEPTED:
				tally.accepted++
			case ingestv1.EventStatus_EVENT_STATUS_DUPLICATE:
				tally.duplicates++
			case ingestv1.EventStatus_EVENT_STATUS_REJECTED:
				tally.rejected++
				rej := r.Rejection
				field := rej.GetFieldPath()
				if field == "" {
					field = "-"
				}
				fmt.Fprintf(out, "line %d: rejected %s (field %s, key %s): %s\n", lineOf[i],
					strings.TrimPrefix(rej.GetReason().String(), "REJECT_REASON_"), field, r.Key, rej.GetMessage())
			default:
				tally.failed++
				fmt.Fprintf(out, "line %d: not sent (key %s): %v\n", lineOf[i], r.Key, r.Err)
			}
		}
		batch, lineOf = batch[:0], lineOf[:0]
		return nil
	}

	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var sendErr error
	for n := 1; lines.Scan(); n++ {
		text := bytes.TrimSpace(lines.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		tally.lines++
		ev, err := parseEventLine(text)
		if err != nil {
			tally.badLines++
			fmt.Fprintf(out, "line %d: not sent: %v\n", n, err)
			continue
		}
		batch, lineOf = append(batch, ev), append(lineOf, n)
		if len(batch) >= o.batch {
			if sendErr = flush(); sendErr != nil {
				break
			}
		}
	}
	if sendErr == nil {
		if err := lines.Err(); err != nil {
			sendErr = fmt.Errorf("read %s: %w", o.file, err)
		} else {
			sendErr = flush()
		}
	}
	fmt.Fprintf(out, "sent %d events: %d accepted, %d duplicates, %d rejected", tally.sent, tally.accepted, tally.duplicates, tally.rejected)
	if tally.failed > 0 {
		fmt.Fprintf(out, ", %d not acknowledged", tally.failed)
	}
	if tally.badLines > 0 {
		fmt.Fprintf(out, "; %d lines not valid", tally.badLines)
	}
	fmt.Fprintln(out)
	switch {
	case sendErr != nil:
		return sendErr
	case tally.rejected > 0 || tally.badLines > 0 || tally.failed > 0:
		return fmt.Errorf("%d of %d events were not stored: %d rejected, %d lines not valid, %d not acknowledged",
			tally.rejected+tally.badLines+tally.failed, tally.lines, tally.rejected, tally.badLines, tally.failed)
	}
	return nil
}

// shortEvent is the short line form: an event named by name or by id and
// version, with its fields in data.
type shortEvent struct {
	Name              string          `json:"name"`
	EventID           uint32          `json:"eventId"`
	EventIDSnake      uint32          `json:"event_id"`
	Version           uint32          `json:"version"`
	Data              json.RawMessage `json:"data"`
	IdempotencyKey    string          `json:"idempotencyKey"`
	IdempotencyKeySnk string          `json:"idempotency_key"`
}

// parseEventLine reads one line in any of the forms `clickstream send`
// takes.
func parseEventLine(line []byte) (*ingestv1.Event, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	_, hasData := fields["data"]
	_, hasJSON := fields["json"]
	_, hasTyped := fields["typed"]
	_, hasMobile := fields["mobile"]
	if !hasData || hasJSON || hasTyped || hasMobile {
		var ev ingestv1.Event
		if err := protojson.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("not a clickstream.ingest.v1.Event (nor a line with \"data\"): %s",
				strings.TrimLeft(strings.TrimPrefix(err.Error(), "proto:"), " \u00a0"))
		}
		if ev.GetPayload() == nil {
			return nil, errors.New(`the event has no payload: give "name" (or "eventId" and "version") and "data", or one of "json", "typed", "mobile"`)
		}
		return &ev, nil
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var s shortEvent
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%v (a line with \"data\" takes name or eventId and version, data, idempotencyKey)", err)
	}
	var data structpb.Struct
	if err := protojson.Unmarshal(s.Data, &data); err != nil {
		return nil, errors.New(`"data" is not a JSON object`)
	}
	j := &ingestv1.JsonEvent{Name: s.Name, EventId: max(s.EventID, s.EventIDSnake), Version: s.Version, Data: &data}
	if j.Name == "" && (j.EventId == 0 || j.Version == 0) {
		return nil, errors.New(`name the event: "name" (e.g. clickstream.events.v1.ItemViewV2) or "eventId" and "version"`)
	}
	key := s.IdempotencyKey
	if key == "" {
		key = s.IdempotencyKeySnk
	}
	return &ingestv1.Event{IdempotencyKey: key, Payload: &ingestv1.Event_Json{Json: j}}, nil
}
