// Package postgres is the PostgreSQL plumbing shared by the services: it starts a private
// cluster from locally installed server binaries (for `clickstream dev` and tests), opens
// connection pools, and applies each service's embedded migrations.
//
// # Private clusters
//
// [StartCluster] runs initdb (when the data directory holds no cluster yet) and a postgres
// server listening on 127.0.0.1 only, with trust authentication for the superuser
// "postgres". PostgreSQL refuses to run as root, so when this process runs as root the server
// runs as the "postgres" OS user. When that user cannot traverse the parent directories of
// the requested data directory (a private temporary directory, a clone under /root), the
// cluster lives in /var/lib/clickstream/<short hash of the requested path> instead, the
// requested directory keeps a "cluster-location" file naming it, and later starts find it
// there again: [Cluster.DataDir] and [ClusterDataDir] tell where it is. The server is a child
// of this process: stop it with [Cluster.Stop]. On Linux it also gets a fast-shutdown signal
// if this process dies first. A server left over on the data directory by a run that was
// killed is waited for while it shuts down (at most 30 s), and stopped when its parent is
// gone; one that a live process runs makes StartCluster fail.
//
// # Migrations
//
// Each service owns one schema and migrates it with [Migrate], which records applied
// versions in <schema>.goose_db_version, so services never share a version table. Migration
// files are goose SQL files (00001_create_things.sql, with "-- +goose Up" sections) at the
// root of the given file system; pass fs.Sub(embedded, "migrations") for an embedded
// directory. The search_path is not changed: migrations must schema-qualify every name they
// create or reference (CREATE TABLE registry.schemas ...). Runs are serialised by a
// PostgreSQL advisory lock per schema, so several processes may migrate at once.
//
// Plumbing: it knows no service (see layering.txt); each service brings its
// own migrations and SQL.
package postgres
