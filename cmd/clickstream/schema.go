package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

func newSchemaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Check, lock, push and compare the event catalogue",
	}
	cmd.AddCommand(newSchemaCheckCommand(), newSchemaLockCommand(), newSchemaPushCommand(), newSchemaDiffCommand())
	return cmd
}

func newSchemaDiffCommand() *cobra.Command {
	c := &registryCLI{output: "table"}
	cmd := &cobra.Command{
		Use:   "diff EVENT_ID FROM TO",
		Short: "Print the field-level differences between two registered versions of an event",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var numbers [3]uint32
			for i, name := range []string{"EVENT_ID", "FROM", "TO"} {
				n, err := strconv.ParseUint(args[i], 10, 32)
				if err != nil || n == 0 {
					return usageError{fmt.Errorf("%s %q: want a positive number, e.g. `clickstream schema diff 1001 1 2`", name, args[i])}
				}
				numbers[i] = uint32(n)
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.DiffVersions(cmd.Context(), &registryv1.DiffVersionsRequest{
				EventId: numbers[0], FromVersion: numbers[1], ToVersion: numbers[2],
			})
			if err != nil {
				return c.failed("diff versions", err)
			}
			out := cmd.OutOrStdout()
			if len(resp.GetChanges()) == 0 {
				fmt.Fprintf(out, "event %d: versions %d and %d have the same shape\n", numbers[0], numbers[1], numbers[2])
			}
			for _, change := range resp.GetChanges() {
				fmt.Fprintln(out, change)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&c.url, "registry", defaultRegistryURL, "base URL of the registry")
	return cmd
}

// schemaFlags locate the catalogue and its lock.
type schemaFlags struct {
	dir  string
	lock string
}

func (f *schemaFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "proto-dir", "proto", "root of the proto sources")
	cmd.Flags().StringVar(&f.lock, "lock", "", "fingerprint lock file (default <proto-dir>/events.lock)")
}

func (f *schemaFlags) lockPath() string {
	if f.lock != "" {
		return f.lock
	}
	return filepath.Join(f.dir, "events.lock")
}

// load compiles the catalogue and reads the lock (empty when missing).
func (f *schemaFlags) load(cmd *cobra.Command) ([]schema.EventVersion, []schema.Violation, *schema.Lock, error) {
	set, err := schema.Compile(cmd.Context(), os.DirFS(f.dir))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("compile %s: %w", f.dir, err)
	}
	events, violations := set.Events()
	lock := &schema.Lock{}
	data, err := os.ReadFile(f.lockPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, nil, err
	default:
		if lock, err = schema.ParseLock(bytes.NewReader(data)); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", f.lockPath(), err)
		}
	}
	return events, violations, lock, nil
}

func printViolations(cmd *cobra.Command, vs []schema.Violation) error {
	for _, v := range vs {
		fmt.Fprintln(cmd.ErrOrStderr(), v.Error())
	}
	return fmt.Errorf("%d schema violation(s)", len(vs))
}

func newSchemaCheckCommand() *cobra.Command {
	var f schemaFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Fail when a locked event version changed or disappeared, or the catalogue breaks a version rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			events, violations, lock, err := f.load(cmd)
			if err != nil {
				return err
			}
			violations = append(violations, schema.Check(lock, events)...)
			schema.SortViolations(violations)
			if len(violations) > 0 {
				return printViolations(cmd, violations)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d event versions match %s\n", len(events), f.lockPath())
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newSchemaLockCommand() *cobra.Command {
	var f schemaFlags
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Append the fingerprints of new event versions to the lock; never changes locked ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			events, violations, lock, err := f.load(cmd)
			if err != nil {
				return err
			}
			if len(violations) > 0 {
				return printViolations(cmd, violations)
			}
			updated, violations := schema.Append(lock, events)
			if len(violations) > 0 {
				return printViolations(cmd, violations)
			}
			var buf bytes.Buffer
			if _, err := updated.WriteTo(&buf); err != nil {
				return err
			}
			if err := os.WriteFile(f.lockPath(), buf.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d event versions locked (%d new)\n",
				f.lockPath(), len(updated.Entries), len(updated.Entries)-len(lock.Entries))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
