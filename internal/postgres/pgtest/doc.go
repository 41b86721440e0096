// Package pgtest gives each test its own PostgreSQL database, cloned from a template that
// the test package prepares once (usually by migrating it).
//
// A test package calls [Main] from TestMain, and each test calls [NewDatabase]:
//
//	func TestMain(m *testing.M) {
//		pgtest.Main(m, func(ctx context.Context, url string) error {
//			return postgres.Migrate(ctx, url, "registry", migrations)
//		})
//	}
//
// Main starts a private, ephemeral cluster from the local PostgreSQL binaries, or uses the
// server named by DATABASE_URL when that is set. Tests never pass without a database: when
// neither is available, Main fails the test binary with instructions.
//
// Test plumbing: imported by tests only; it knows no service (a test passes
// its service's migrations in).
package pgtest
