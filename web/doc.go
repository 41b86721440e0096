// Package web is the console: a single-page application for operators,
// built from web/src into web/dist (committed, so `go build` needs no
// Node) and embedded into the binary.
//
// The console talks only to the REST gateways of the three services, with
// the admin token the operator signs in with. Handler serves the console
// and reverse-proxies /console/api/<service>/v1/... to that service's REST
// gateway, so the browser stays on one origin: the services need no CORS,
// and nothing but the gateway's /v1/ routes is reachable through it.
//
// It embeds the built console and serves it; it must not import a service or
// platform: it talks to the services' REST gateways only.
package web
