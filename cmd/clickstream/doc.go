// Command clickstream is the single binary of the platform: the dev stack,
// each service, migrations and the schema tools.
//
// It is the only main package: it parses flags and environment into
// platform's and the services' configs and calls them. Nothing imports it.
package main
