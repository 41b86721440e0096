package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/platform"
)

func newMigrateCommand() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "migrate [registry|ingest|awards ...]",
		Short: "Apply the embedded database migrations of the named services (all by default)",
		Long: `Apply the embedded database migrations. Each service owns a PostgreSQL schema
(registry, ingest, awards) and records its applied migrations in
<schema>.goose_db_version; ingest's come with the schema "warehouse" of the
typed tables its warehouse loader writes. Running it again is a no-op.`,
		ValidArgs: platform.Services(),
		RunE: func(cmd *cobra.Command, args []string) error {
			url = databaseURL(url)
			if url == "" {
				return usageError{errors.New("--database-url (or $DATABASE_URL) is required")}
			}
			if err := platform.Migrate(cmd.Context(), url, args...); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "database-url", "", "PostgreSQL connection URL (also $DATABASE_URL)")
	return cmd
}
