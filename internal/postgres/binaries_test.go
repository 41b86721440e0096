package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFindBinariesMissing(t *testing.T) {
	t.Setenv(binDirEnv, t.TempDir())

	_, err := FindBinaries()
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("FindBinaries() error = %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL", binDirEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("FindBinaries() error %q does not mention %q", err, want)
		}
	}

	_, err = StartCluster(context.Background(), ClusterConfig{DataDir: t.TempDir()})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("StartCluster() error = %v, want ErrNoBinaries", err)
	}
}

func TestFindBinariesHonoursEnv(t *testing.T) {
	dir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(binDirEnv, dir)
	got, err := FindBinaries()
	if err != nil || got != dir {
		t.Fatalf("FindBinaries() with %s=%s = %q, %v", binDirEnv, dir, got, err)
	}
}

func TestNewestFirst(t *testing.T) {
	dirs := []string{
		"/usr/lib/postgresql/9.6/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/16/bin",
	}
	want := []string{
		"/usr/lib/postgresql/16/bin",
		"/usr/lib/postgresql/15/bin",
		"/usr/lib/postgresql/10/bin",
		"/usr/lib/postgresql/9.6/bin",
	}
	if newestFirst(dirs); !slices.Equal(dirs, want) {
		t.Errorf("sorted by version: %v, want %v", dirs, want)
	}
}
