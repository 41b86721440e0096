package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variable of every flag:
// --database-url is also CLICKSTREAM_DATABASE_URL.
const envPrefix = "CLICKSTREAM_"

func newRootCommand() *cobra.Command {
	var (
		logLevel    string
		memoryLimit int64
	)
	root := &cobra.Command{
		Use:   "clickstream",
		Short: "Clickstream: a schema-first event platform (registry, ingest, awards)",
		Long: `Clickstream is a schema-first event platform: every event is a versioned
protobuf message in the registry, ingest validates and stores events durably on
NATS JetStream, and awards turns the event stream into achievements.

Every flag can also be set with an environment variable: CLICKSTREAM_ and the
flag name in upper case with dashes as underscores (--data-dir is
CLICKSTREAM_DATA_DIR). Flags win over the environment.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			if err := setupLogging(cmd.ErrOrStderr(), logLevel); err != nil {
				return err
			}
			applyMemoryLimit(memoryLimit)
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().Int64Var(&memoryLimit, "memory-limit", 0,
		"soft memory limit of the process in bytes: the garbage collector works harder and returns memory to the system as the heap nears it; "+
			"0 takes $GOMEMLIMIT, else 90% of the cgroup's memory.max, else none")
	root.AddCommand(newDevCommand(), newServeCommand(), newMigrateCommand(), newSchemaCommand())
	root.AddCommand(newRegistryCommand())
	root.AddCommand(newKeysCommand())
	root.AddCommand(newLangpackCommand())
	root.AddCommand(newDocsCommand())
	root.AddCommand(newAwardsCommand())
	root.AddCommand(newDeadLettersCommand(), newSendCommand(), newBenchCommand())
	root.AddCommand(newSubscriptionsCommand())
	root.AddCommand(newWarehouseCommand())
	annotateEnv(root)
	return root
}

// annotateEnv adds each flag's environment variable to its help text.
func annotateEnv(cmd *cobra.Command) {
	add := func(f *pflag.Flag) {
		env := envName(f.Name)
		if !strings.Contains(f.Usage, env) {
			f.Usage += " [$" + env + "]"
		}
	}
	cmd.PersistentFlags().VisitAll(add)
	cmd.Flags().VisitAll(add)
	for _, c := range cmd.Commands() {
		annotateEnv(c)
	}
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if set.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = usageError{fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)}
			}
		}
	})
	return err
}

func setupLogging(w io.Writer, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", level)}
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})))
	return nil
}

// databaseURL returns the flag value, or DATABASE_URL as the conventional fallback.
func databaseURL(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("DATABASE_URL")
}
