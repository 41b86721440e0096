package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// keysOf is the service's key authenticator, or an error saying keys are
// not configured.
func (a *AdminService) keysOf() (*Keys, error) {
	if a.svc.keys == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("this ingest runs without API keys (no key store configured)"))
	}
	return a.svc.keys, nil
}

// CreateKey implements IngestAdminService.CreateKey: a key bound to an
// environment the registry knows. The secret is in the answer only.
func (a *AdminService) CreateKey(ctx context.Context, req *ingestv1.CreateKeyRequest) (*ingestv1.CreateKeyResponse, error) {
	keys, err := a.keysOf()
	if err != nil {
		return nil, err
	}
	env := strings.TrimSpace(req.GetEnvironment())
	if env == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("environment is required: a key is bound to one environment, e.g. \"web\""))
	}
	for _, err := range []error{
		checkEnvironmentParam("environment", env),
		checkText("description", req.GetDescription(), maxDescriptionBytes, false),
		checkActor(req.GetActor()),
	} {
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	if err := a.environmentExists(ctx, env); err != nil {
		return nil, err
	}
	kind := KeyKindServer
	var origins []string
	switch req.GetKind() {
	case ingestv1.ApiKeyKind_API_KEY_KIND_UNSPECIFIED, ingestv1.ApiKeyKind_API_KEY_KIND_SERVER:
		if len(req.GetAllowedOrigins()) > 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New(
				"allowed_origins is for browser keys: set kind API_KEY_KIND_BROWSER, or drop the origins (server keys never pass CORS)"))
		}
	case ingestv1.ApiKeyKind_API_KEY_KIND_BROWSER:
		kind = KeyKindBrowser
		if origins, err = checkOrigins(req.GetAllowedOrigins()); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("kind %d is not a key kind: API_KEY_KIND_SERVER or API_KEY_KIND_BROWSER", req.GetKind()))
	}
	id, secret := NewKeySecret()
	k := APIKey{ID: id, Environment: env, Description: req.GetDescription(), SecretHash: HashSecret(secret),
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), CreatedBy: req.GetActor(), Kind: kind, AllowedOrigins: origins}
	if err := keys.Store().CreateKey(ctx, k); err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	keys.forgetOrigins()
	return &ingestv1.CreateKeyResponse{Key: keyProto(k), Secret: secret}, nil
}

// environmentExists asks the registry whether env exists.
func (a *AdminService) environmentExists(ctx context.Context, env string) error {
	if a.registry == nil {
		return connect.NewError(connect.CodeFailedPrecondition, errors.New("this ingest has no registry to check environments against"))
	}
	_, err := a.registry.GetEnvironment(ctx, &registryv1.GetEnvironmentRequest{Name: env})
	if err == nil {
		return nil
	}
	if connect.CodeOf(err) == connect.CodeNotFound {
		return connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"environment %q does not exist in the registry: create it first with the registry admin API (CreateEnvironment)", env))
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("cannot check environment %q with the registry now, retry shortly: %w", env, err))
}

// ListKeys implements IngestAdminService.ListKeys.
func (a *AdminService) ListKeys(ctx context.Context, req *ingestv1.ListKeysRequest) (*ingestv1.ListKeysResponse, error) {
	keys, err := a.keysOf()
	if err != nil {
		return nil, err
	}
	env := strings.TrimSpace(req.GetEnvironment())
	if err := checkEnvironmentParam("environment", env); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	list, err := keys.Store().ListKeys(ctx, env, req.GetIncludeRevoked())
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	resp := &ingestv1.ListKeysResponse{}
	for _, k := range list {
		resp.Keys = append(resp.Keys, keyProto(k))
	}
	return resp, nil
}

// RevokeKey implements IngestAdminService.RevokeKey. The key stops working
// at once on this instance and within KeyCacheTTL on the others.
func (a *AdminService) RevokeKey(ctx context.Context, req *ingestv1.RevokeKeyRequest) (*ingestv1.RevokeKeyResponse, error) {
	keys, err := a.keysOf()
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(req.GetKeyId())
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("key_id is required, e.g. ck_5f0c2a9d81be (see clickstream keys list)"))
	}
	for _, err := range []error{checkKeyID(id), checkActor(req.GetActor())} {
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	k, err := keys.Store().RevokeKey(ctx, id, req.GetActor())
	if errors.Is(err, ErrKeyNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("API key %s does not exist; list keys with `clickstream keys list`", id))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	keys.forget(id)
	return &ingestv1.RevokeKeyResponse{Key: keyProto(k)}, nil
}

// RestrictKey implements IngestAdminService.RestrictKey. The new origins
// hold at once on this instance and within KeyCacheTTL on the others.
func (a *AdminService) RestrictKey(ctx context.Context, req *ingestv1.RestrictKeyRequest) (*ingestv1.RestrictKeyResponse, error) {
	keys, err := a.keysOf()
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(req.GetKeyId())
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("key_id is required, e.g. ck_5f0c2a9d81be (see clickstream keys list)"))
	}
	for _, err := range []error{checkKeyID(id), checkActor(req.GetActor())} {
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
	}
	origins, err := checkOrigins(req.GetAllowedOrigins())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	k, err := keys.Store().RestrictKey(ctx, id, origins)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("there is no browser key %s (server keys have no origins); list keys with `clickstream keys list`", id))
	}
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	keys.forget(id)
	return &ingestv1.RestrictKeyResponse{Key: keyProto(k)}, nil
}

// maxOrigins bounds a browser key's list of origins.
const maxOrigins = 100

// checkOrigins validates and normalizes a browser key's origins: each
// "scheme://host[:port]" with scheme http or https, nothing after.
func checkOrigins(origins []string) ([]string, error) {
	if len(origins) == 0 {
		return nil, errors.New(`a browser key needs at least one allowed origin, e.g. "https://shop.example"`)
	}
	if len(origins) > maxOrigins {
		return nil, fmt.Errorf("%d origins; a key takes at most %d", len(origins), maxOrigins)
	}
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		u, err := url.Parse(strings.TrimSpace(o))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(u.Host, "*") || len(o) > 255 {
			return nil, fmt.Errorf(`allowed origin %.80q is not an origin: write scheme://host[:port], e.g. "https://shop.example" (no path, no wildcard)`, o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

func keyProto(k APIKey) *ingestv1.ApiKey {
	p := &ingestv1.ApiKey{Id: k.ID, Environment: k.Environment, Description: k.Description,
		CreatedAt: timestamppb.New(k.CreatedAt), CreatedBy: k.CreatedBy, AllowedOrigins: k.AllowedOrigins,
		Kind: ingestv1.ApiKeyKind_API_KEY_KIND_SERVER}
	if k.Browser() {
		p.Kind = ingestv1.ApiKeyKind_API_KEY_KIND_BROWSER
	}
	if k.Revoked() {
		p.RevokedAt = timestamppb.New(k.RevokedAt)
	}
	return p
}
