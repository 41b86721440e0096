// Command clickstream is the single binary of the platform: the dev stack,
// each service, migrations and the schema tools.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if errors.Is(err, postgres.ErrNoBinaries) {
			// One actionable line: what is missing and what to install.
			fmt.Fprintln(os.Stderr, "clickstream:", postgres.ErrNoBinaries)
		} else {
			fmt.Fprintln(os.Stderr, "clickstream:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors and 1 otherwise.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError marks a command-line mistake.
type usageError struct{ error }

func run(ctx context.Context, args []string) error {
	root := newRootCommand()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
