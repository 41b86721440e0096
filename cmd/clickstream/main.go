package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/clickstream-dev/clickstream/internal/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(report(os.Stderr, err))
	}
}

// report prints err for a person and returns the exit code.
func report(w io.Writer, err error) int {
	if errors.Is(err, postgres.ErrNoBinaries) {
		// One actionable line: what is missing and what to install.
		fmt.Fprintln(w, "clickstream:", postgres.ErrNoBinaries)
	} else {
		fmt.Fprintln(w, "clickstream:", err)
	}
	return exitCode(err)
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}
