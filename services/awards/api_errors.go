package awards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"
)

// Errors become Connect codes here and only here, at the edge of the APIs:
// the engine, the workers and the store return plain Go errors (wrapping
// ErrNotFound, ErrInvalidConfig, ...), and the handlers map them.

// apiError maps an engine error to a Connect error.
func apiError(err error) error {
	var ce *connect.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case isNotFound(err):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, ErrInvalidBackfill), errors.Is(err, ErrInvalidConfig):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeCanceled, err)
	}
	// What failed inside (the database, the bus) is for the log, not the
	// caller: its messages can carry storage details.
	slog.Error("awards admin API", "err", err)
	return connect.NewError(connect.CodeInternal, errStorage)
}

func invalid(format string, args ...any) error {
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
}

// internalError logs a storage failure and returns an Internal error that
// names the operation without storage details.
func internalError(ctx context.Context, op string, err error, args ...any) error {
	slog.ErrorContext(ctx, "awards public API: "+op, append(args, "err", err)...)
	return connect.NewError(connect.CodeInternal, fmt.Errorf("%s failed; retry later", op))
}

// checkIdentifiers returns InvalidArgument naming the first parameter
// whose value identifierProblem refuses. Pairs are name, value.
func checkIdentifiers(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if p := identifierProblem(pairs[i+1]); p != "" {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s %s", pairs[i], p))
		}
	}
	return nil
}

// errStorage is what a client sees of a failure inside the service: the
// details (which may be the database's) go to the log only.
var errStorage = errors.New("failed inside the awards service; the service log has the details; retry later")
