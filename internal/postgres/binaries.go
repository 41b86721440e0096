package postgres

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries reports that the PostgreSQL server binaries needed by [StartCluster] are
// not installed where [FindBinaries] looks.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: " +
	"install them (Debian: apt-get install postgresql), point CLICKSTREAM_PG_BIN at their directory, " +
	"or set DATABASE_URL to an existing server")

// binDirEnv names a directory holding the server binaries; when set it is the only place
// [FindBinaries] looks.
const binDirEnv = "CLICKSTREAM_PG_BIN"

// debianBinGlob matches the per-version binary directories of Debian's PostgreSQL packages.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// serverBinaries are the programs a private cluster needs, all from one directory.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// FindBinaries returns the directory holding initdb, pg_ctl and postgres. It looks in the
// directory named by CLICKSTREAM_PG_BIN if that is set, and otherwise on PATH and then in
// /usr/lib/postgresql/*/bin, where the newest major version wins. The error wraps
// [ErrNoBinaries] when none of these places holds all three programs.
func FindBinaries() (dir string, err error) {
	if dir, ok := os.LookupEnv(binDirEnv); ok && dir != "" {
		if missing := missingBinaries(dir); len(missing) > 0 {
			return "", fmt.Errorf("%s=%s lacks %s: %w", binDirEnv, dir, strings.Join(missing, ", "), ErrNoBinaries)
		}
		return dir, nil
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		// Distributions often link the binaries into PATH; use the directory they live in.
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
		if dir := filepath.Dir(path); len(missingBinaries(dir)) == 0 {
			return dir, nil
		}
	}
	dirs, err := filepath.Glob(debianBinGlob)
	if err != nil {
		return "", fmt.Errorf("find PostgreSQL binaries: %w", err)
	}
	for _, dir := range newestFirst(dirs) {
		if len(missingBinaries(dir)) == 0 {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// missingBinaries lists the server binaries that are not executable files in dir.
func missingBinaries(dir string) []string {
	var missing []string
	for _, name := range serverBinaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// newestFirst sorts versioned binary directories such as /usr/lib/postgresql/15/bin by
// descending version.
func newestFirst(dirs []string) []string {
	slices.SortFunc(dirs, func(a, b string) int { return slices.Compare(versionOf(b), versionOf(a)) })
	return dirs
}

// versionOf returns the numeric components of the version directory in a path such as
// /usr/lib/postgresql/9.6/bin; non-numeric components count as zero.
func versionOf(binDir string) []int {
	var version []int
	for part := range strings.SplitSeq(filepath.Base(filepath.Dir(binDir)), ".") {
		n, _ := strconv.Atoi(part)
		version = append(version, n)
	}
	return version
}
