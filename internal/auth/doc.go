// Package auth holds the credential checks shared by the services. They run
// as net/http middleware, so gRPC, gRPC-Web, Connect and REST calls are
// treated alike (Connect interceptors do not run on the REST path).
//
// Plumbing: it knows no service (see layering.txt); services pass it their
// keys and tokens.
package auth
