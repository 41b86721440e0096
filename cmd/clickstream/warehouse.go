package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/warehouse"
)

func newWarehouseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "warehouse",
		Short: "Inspect the warehouse: the typed tables every accepted event lands in",
	}
	cmd.AddCommand(newWarehouseTablesCommand())
	return cmd
}

func newWarehouseTablesCommand() *cobra.Command {
	var (
		url     string
		columns bool
	)
	cmd := &cobra.Command{
		Use:   "tables",
		Short: "List the typed tables (schema warehouse) with their row counts and columns",
		Long: `List the typed tables of the warehouse: one per event (warehouse.<event>),
with its exact row count and, with --columns (the default), every column with
its type and comment. Queries go to --database-url, the database the ingest
service runs the loader against.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url = databaseURL(url)
			if url == "" {
				return usageError{errors.New("--database-url (or $DATABASE_URL) is required; `clickstream dev` prints its database URL")}
			}
			pool, err := postgres.Open(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer pool.Close()
			tables, err := warehouse.NewPostgresStore(pool).Tables(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(tables) == 0 {
				fmt.Fprintln(out, "no tables yet: the loader creates warehouse.<event> when it meets the event's first version")
				return nil
			}
			for i, t := range tables {
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "warehouse.%s\tevent %d (%s)\t%d rows\n", t.Name, t.EventID, t.Subject, t.Rows)
				if !columns {
					continue
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				for _, c := range t.Columns {
					fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Name, c.Type, c.Comment)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "database-url", "", "PostgreSQL connection URL (also $DATABASE_URL)")
	cmd.Flags().BoolVar(&columns, "columns", true, "list each table's columns with type and comment")
	return cmd
}

// addWarehouseFlags adds the flags of the warehouse loader, which the
// ingest service runs.
func addWarehouseFlags(f *pflag.FlagSet, c *platform.WarehouseConfig) {
	f.DurationVar(&c.Retention, "warehouse-retention", 0, "how long the typed tables (schema warehouse) keep events: older whole daily partitions are dropped hourly; 0 keeps everything (ingest)")
	f.StringVar(&c.LakeDir, "lake-dir", "", "directory of the Parquet lake the warehouse loader also writes (event=<table>/date=<yyyy-mm-dd>/seq-<first>-<last>.parquet); empty writes none (ingest)")
	f.Uint64Var(&c.LakeFileSequences, "lake-file-sequences", 100_000, "stream sequences one lake file covers, which bounds its rows (ingest)")
	f.IntVar(&c.LakeFlushEvents, "lake-flush-events", 10_000, "buffered events that make the loader write its lake files (ingest)")
	f.DurationVar(&c.LakeFlushAge, "lake-flush-age", 30*time.Second, "longest an event waits before its lake file is written, and acknowledged (ingest)")
}
