package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// databaseURLFile is where, in the data directory, dev keeps the URL of its private
// PostgreSQL with the password (mode 0600).
const databaseURLFile = "database-url"

// newDevCredentialsCommand prints the secrets dev keeps in its data directory, which
// its banner only names.
func newDevCredentialsCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Print the admin token, the ingest API key and the database URL of the dev stack",
		Long: `Print the secrets the dev stack keeps in its data directory (files of mode
0600): the admin API token, the ingest API key and the URL of the private
PostgreSQL with its password. The dev banner names the files only, so that
logs of dev runs hold no secret.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			found := 0
			for _, s := range []struct{ label, file string }{
				{"admin API token", "admin-token"},
				{"ingest API key", ingestKeyFile},
				{"database URL", databaseURLFile},
			} {
				path := filepath.Join(dataDir, s.file)
				data, err := os.ReadFile(path)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				found++
				fmt.Fprintf(out, "%-16s %s\n", s.label, strings.TrimSpace(string(data)))
			}
			if found == 0 {
				return fmt.Errorf("no credentials in %s: run `clickstream dev --data-dir %s` once first", dataDir, dataDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", ".clickstream", "data directory of the dev stack")
	return cmd
}
