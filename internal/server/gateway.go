package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// NewGatewayMux returns the grpc-gateway mux every service uses: protobuf
// JSON with the proto3 JSON names, and an error handler that keeps the codes
// and details of errors returned as *connect.Error (the default handler
// would answer those with HTTP 500). A path the edge found bad is rejected
// naming the path parameter (rejectBadInput). Both the error handler and a forward
// response option tell the request middleware which REST route matched,
// for metrics.
func NewGatewayMux(decoders JSONDecoders, encoders JSONEncoders) *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: gatewayJSON{
				JSONPb: &runtime.JSONPb{
					MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
					UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false, RecursionLimit: MaxMessageDepth},
				},
				decoders: decoders,
				encoders: encoders,
			},
		}),
		runtime.WithErrorHandler(gatewayErrorHandler),
		runtime.WithRoutingErrorHandler(gatewayRoutingError),
		runtime.WithMiddlewares(rejectBadPathParams),
		runtime.WithForwardResponseOption(func(ctx context.Context, _ http.ResponseWriter, _ proto.Message) error {
			noteGatewayRoute(ctx)
			return nil
		}),
	)
}

// gatewayJSON is the gateway's protobuf JSON, with the routes' own
// decoders for the request messages that have one, and encoders for the
// response messages that have one.
type gatewayJSON struct {
	*runtime.JSONPb
	decoders JSONDecoders
	encoders JSONEncoders
}

func (g gatewayJSON) Marshal(v any) ([]byte, error) {
	if msg, ok := v.(proto.Message); ok {
		if encode := g.encoders.encoder(msg); encode != nil {
			if b, err := encode(msg); err == nil {
				return b, nil
			}
		}
	}
	return g.JSONPb.Marshal(v)
}

func (g gatewayJSON) NewDecoder(r io.Reader) runtime.Decoder {
	if len(g.decoders) == 0 {
		return g.JSONPb.NewDecoder(r)
	}
	return runtime.DecoderFunc(func(v any) error {
		if msg, ok := v.(proto.Message); ok {
			if decode := g.decoders.decoder(msg); decode != nil {
				data, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				return decode(data, msg)
			}
		}
		return g.JSONPb.NewDecoder(r).Decode(v)
	})
}

// noteGatewayRoute records the matched REST path pattern, e.g.
// "/v1/events/{event_id}", for the request middleware.
func noteGatewayRoute(ctx context.Context) {
	info := requestInfoFrom(ctx)
	if info == nil {
		return
	}
	if pattern, ok := runtime.HTTPPathPattern(ctx); ok {
		info.route = pattern
	}
}

// gatewayErrorHandler turns a connect error into the gRPC status the gateway
// understands, so NotFound answers 404, InvalidArgument 400, Unauthenticated
// 401, PermissionDenied 403, Unavailable 503, and so on. An internal error
// carrying PostgreSQL's error text reaches the client as "internal error"
// with the request id, and one saying PostgreSQL cannot be reached as 503
// Unavailable (a failover in progress); the request log keeps the original.
func gatewayErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	noteGatewayRoute(ctx)
	if info := requestInfoFrom(r.Context()); info != nil && info.bodyLimit > 0 {
		overLimit(w, info)
		return
	}
	if cerr := new(connect.Error); errors.As(err, &cerr) {
		// A rate limit says when to come back.
		if v := cerr.Meta().Get("Retry-After"); v != "" {
			w.Header().Set("Retry-After", v)
		}
	}
	st := GRPCStatus(err)
	switch {
	case databaseUnreachable(connect.Code(st.Code()), st.Message()):
		st = status.New(codes.Unavailable, unreachable(r.Context(), err))
	case leaksDatabaseText(connect.Code(st.Code()), st.Message()):
		st = status.New(st.Code(), withheld(r.Context(), err))
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, st.Err())
}

// GRPCStatus converts err to a gRPC status, keeping the code, message and
// details of a *connect.Error. Connect and gRPC share code numbers. Like
// Connect, it reports bare context errors as Canceled and DeadlineExceeded.
func GRPCStatus(err error) *status.Status {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		st, ok := status.FromError(err)
		switch {
		case ok:
		case errors.Is(err, context.Canceled):
			st = status.New(codes.Canceled, err.Error())
		case errors.Is(err, context.DeadlineExceeded):
			st = status.New(codes.DeadlineExceeded, err.Error())
		}
		return st
	}
	st := status.New(codes.Code(cerr.Code()), cerr.Message())
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if withDetail, werr := st.WithDetails(protoadapt.MessageV1Of(v)); werr == nil {
			st = withDetail
		}
	}
	return st
}
