// Package harness is the one kit of the end-to-end tests under e2e/: it
// starts a stack — in-process with platform.Start on free ports and a fresh
// data directory (Stack), or the built `clickstream dev` binary as a child
// process on fixed ports kept across SIGKILL and restart (Dev) — generates
// workloads with unique keys and a chosen share of invalid events
// (Workload), counts what the streams and tables hold (StreamKeys,
// ReadStream, Scalar), and sends as a partner would: through
// client/ingestclient with an API key and that client's retry policy
// (Sender), over bearer-token HTTP clients (BearerClient).
//
// Only the test packages under e2e/ import it. It must not be imported by
// product code (cmd/, platform/, services/, internal/, client/), and it
// imports no test package.
package harness
