package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Bounds on what a request may carry in its URL. Handlers and the stores
// behind them can then rely on text from the path and the query being
// valid UTF-8 without control characters, and of a sane size.
const (
	// maxPathBytes bounds the decoded path.
	maxPathBytes = 2048
	// maxQueryNameBytes bounds the decoded name of a query parameter.
	maxQueryNameBytes = 256
	// maxQueryValueBytes bounds each decoded value of a query parameter.
	maxQueryValueBytes = 4096
	// quotedBytes is how much of a bad parameter name an error message
	// quotes.
	quotedBytes = 64
)

// rejectBadInput answers 400 (InvalidArgument) to a request whose decoded
// path or query parameters hold what no handler should see: a NUL byte or
// another C0 control character, invalid UTF-8, or more bytes than the
// bounds above. Left alone, such input reaches PostgreSQL, which refuses it
// with a 500 and its own error text. The error names the path or the
// parameter and never echoes the value.
//
// A bad path bound for the REST gateway (toGateway) is let through with the
// problem noted in the request info: the gateway then rejects it naming the
// path parameter ("user_id") once it has matched a route (see
// rejectBadPathParams), or as "path" when no route matches.
func rejectBadInput(h http.Handler, toGateway func(*http.Request) bool) http.Handler {
	errorWriter := connect.NewErrorWriter(connect.WithRequireConnectProtocolHeader())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoFrom(r.Context())
		problem := checkPath(r.URL.Path)
		if problem != "" && info != nil && toGateway != nil && toGateway(r) {
			info.pathProblem = problem
			problem = ""
		}
		if problem == "" {
			problem = checkQuery(r.URL.RawQuery)
		}
		if problem == "" {
			h.ServeHTTP(w, r)
			return
		}
		err := connect.NewError(connect.CodeInvalidArgument, errors.New(problem))
		if info != nil {
			info.err = err
		}
		// gRPC, gRPC-Web and Connect clients get the error in their own
		// protocol; anything else (REST, plain HTTP) the gateway's JSON.
		if errorWriter.IsSupported(r) {
			_ = errorWriter.Write(w, r, err)
			return
		}
		writeStatus(w, status.New(codes.InvalidArgument, problem), http.StatusBadRequest)
	})
}

// checkPath describes the problem with a decoded path, or returns "".
func checkPath(path string) string { return checkPathPart("path", path) }

// checkPathPart describes the problem with s, the decoded path or a part of
// it, prefixed by what names it, or returns "".
func checkPathPart(name, s string) string {
	if len(s) > maxPathBytes {
		return fmt.Sprintf("%s: longer than %d bytes", name, maxPathBytes)
	}
	if problem := checkText(s); problem != "" {
		return name + ": " + problem
	}
	return ""
}

// checkQuery describes the first problem with a raw query's decoded names
// and values, or returns "".
func checkQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	// Pairs that do not parse are dropped here as they are by every
	// handler (which parse the query the same way), so they never reach
	// one.
	query, _ := url.ParseQuery(rawQuery)
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if len(name) > maxQueryNameBytes {
			return fmt.Sprintf("query parameter name %s: longer than %d bytes", quoteBounded(name), maxQueryNameBytes)
		}
		if problem := checkText(name); problem != "" {
			return fmt.Sprintf("query parameter name %s: %s", quoteBounded(name), problem)
		}
		for _, value := range query[name] {
			if len(value) > maxQueryValueBytes {
				return fmt.Sprintf("query parameter %q: value longer than %d bytes", name, maxQueryValueBytes)
			}
			if problem := checkText(value); problem != "" {
				return fmt.Sprintf("query parameter %q: %s", name, problem)
			}
		}
	}
	return ""
}

// rejectBadPathParams is the gateway middleware that answers a path the
// edge found bad (rejectBadInput) once the gateway has matched it to a
// route, naming the path parameter that holds the problem.
func rejectBadPathParams(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		info := requestInfoFrom(r.Context())
		if info == nil || info.pathProblem == "" {
			next(w, r, params)
			return
		}
		problem := info.pathProblem
		for _, name := range slices.Sorted(maps.Keys(params)) {
			if p := checkPathPart(fmt.Sprintf("path parameter %q", name), params[name]); p != "" {
				problem = p
				break
			}
		}
		rejectPath(w, info, problem)
	}
}

// gatewayRoutingError answers a request the gateway has no route for: a
// path the edge found bad with 400 naming the path, others as usual (404,
// 405).
func gatewayRoutingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	if info := requestInfoFrom(ctx); info != nil && info.pathProblem != "" {
		rejectPath(w, info, info.pathProblem)
		return
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
}

func rejectPath(w http.ResponseWriter, info *requestInfo, problem string) {
	info.err = connect.NewError(connect.CodeInvalidArgument, errors.New(problem))
	writeStatus(w, status.New(codes.InvalidArgument, problem), http.StatusBadRequest)
}

// checkText describes the first byte of s that is a NUL, another C0
// control character or not valid UTF-8, or returns "".
func checkText(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0:
			return "contains a NUL byte"
		case c < 0x20:
			return fmt.Sprintf("contains the control character %U", rune(c))
		case c < utf8.RuneSelf:
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return "is not valid UTF-8"
		}
		i += size
	}
	return ""
}

// quoteBounded quotes at most quotedBytes of s, escaping whatever is not
// printable UTF-8, and marks a cut with "…".
func quoteBounded(s string) string {
	if len(s) <= quotedBytes {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:quotedBytes]) + "…"
}

// writeStatus answers st as the gateway answers errors: its JSON form, e.g.
// {"code":3,"message":"…","details":[]}.
func writeStatus(w http.ResponseWriter, st *status.Status, code int) {
	body, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st.Proto())
	if err != nil {
		http.Error(w, st.Message(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// leaksDatabaseText reports whether an error with this code and text would
// show a client PostgreSQL's own error text, which pgx renders with
// "(SQLSTATE xxxxx)".
func leaksDatabaseText(code connect.Code, text string) bool {
	return (code == connect.CodeInternal || code == connect.CodeUnknown) && strings.Contains(text, "SQLSTATE")
}

// databaseUnreachable reports whether an error with this code and text is
// pgx failing to reach PostgreSQL ("failed to connect to `user=… database=…`:
// host: dial error …"): the database is down or failing over, which a
// client should retry, and the text names the database's user and address.
func databaseUnreachable(code connect.Code, text string) bool {
	return (code == connect.CodeInternal || code == connect.CodeUnknown) && strings.Contains(text, "failed to connect to `user=")
}

// unreachable is what a client sees instead of such an error: Unavailable,
// which clients retry, and the request id that finds the full error in the
// logs.
func unreachable(ctx context.Context, err error) string {
	msg := "the database is unavailable; retry later"
	if id := requestID(ctx); id != "" {
		msg += " (request id " + id + ")"
	}
	if info := requestInfoFrom(ctx); info != nil {
		info.err = err
	}
	return msg
}

// withheld is what a client sees instead of an internal error's text: the
// request id that finds the full error in the logs. The original is kept
// for the request log line.
func withheld(ctx context.Context, err error) string {
	id := requestID(ctx)
	if info := requestInfoFrom(ctx); info != nil {
		info.err = err
	}
	if id == "" {
		return "internal error"
	}
	return "internal error (request id " + id + ")"
}

// withholdDatabaseErrors is the Connect interceptor (gRPC, gRPC-Web and
// Connect) that replaces the text of internal errors carrying PostgreSQL's
// error text; the gateway's error handler does the same for REST.
func withholdDatabaseErrors() connect.Interceptor { return databaseErrorInterceptor{} }

type databaseErrorInterceptor struct{}

func (databaseErrorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		return resp, withholdDatabaseText(ctx, err)
	}
}

func (databaseErrorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (databaseErrorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return withholdDatabaseText(ctx, next(ctx, conn))
	}
}

func withholdDatabaseText(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	code := connect.CodeOf(err)
	if databaseUnreachable(code, err.Error()) {
		return connect.NewError(connect.CodeUnavailable, errors.New(unreachable(ctx, err)))
	}
	if !leaksDatabaseText(code, err.Error()) {
		return err
	}
	return connect.NewError(code, errors.New(withheld(ctx, err)))
}

// WriteError answers r with err before any handler runs (a guard refusing
// a call): in the caller's own protocol for gRPC, gRPC-Web and Connect, and
// as the REST gateway answers errors for anything else, with the HTTP
// status of its code (Unauthenticated 401, ResourceExhausted 429, …).
func WriteError(w http.ResponseWriter, r *http.Request, err *connect.Error) {
	if info := requestInfoFrom(r.Context()); info != nil {
		info.err = err
	}
	if connect.NewErrorWriter(connect.WithRequireConnectProtocolHeader()).IsSupported(r) {
		_ = connect.NewErrorWriter().Write(w, r, err)
		return
	}
	code := codes.Code(err.Code())
	writeStatus(w, status.New(code, err.Message()), runtime.HTTPStatusFromCode(code))
}
