package server

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/protoadapt"
)

// NewGatewayMux returns the grpc-gateway mux every service uses: protobuf
// JSON with the proto3 JSON names, and an error handler that keeps the codes
// and details of errors returned as *connect.Error (the default handler
// would answer those with HTTP 500).
func NewGatewayMux() *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			},
		}),
		runtime.WithErrorHandler(gatewayErrorHandler),
	)
}

// gatewayErrorHandler turns a connect error into the gRPC status the gateway
// understands, so NotFound answers 404, InvalidArgument 400, Unauthenticated
// 401, PermissionDenied 403, Unavailable 503, and so on.
func gatewayErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, GRPCStatus(err).Err())
}

// GRPCStatus converts err to a gRPC status, keeping the code, message and
// details of a *connect.Error. Connect and gRPC share code numbers.
func GRPCStatus(err error) *status.Status {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return status.Convert(err)
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
