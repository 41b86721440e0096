// Package openapi embeds the OpenAPI (Swagger 2) specs that protoc-gen-openapiv2
// writes beside this file from proto/gateway.yaml; `make generate` rewrites the
// JSON, this file stays.
package openapi

import "embed"

// FS holds the generated specs, served under /openapi/.
//
//go:embed *.json
var FS embed.FS
