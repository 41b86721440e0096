package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	// relocationRoot holds the clusters that run as the server user when their requested
	// data directory is out of that user's reach (root running from a private directory).
	relocationRoot = "/var/lib/clickstream"
	// relocationHashLen is how many hex digits of the requested directory's hash name its
	// cluster under relocationRoot.
	relocationHashLen = 12
)

// LocationFileName is the pointer file that [StartCluster] leaves in a requested data
// directory whose cluster had to live elsewhere; it holds that cluster's data directory.
const LocationFileName = "cluster-location"

// placement is where the cluster asked for at a requested data directory lives.
type placement struct {
	// relocated says the cluster lives under the relocation root rather than in the
	// requested directory, which then holds a pointer file naming it.
	relocated bool
	// reason is why the cluster was relocated: the requested directory is out of the
	// server user's reach. Nil when a pointer file of an earlier run is the only reason.
	reason error
}

// dataDirState is what StartCluster finds at the requested data directory.
type dataDirState struct {
	// asRoot says the server runs as another OS user because this process runs as root.
	asRoot bool
	// reachErr says why the server user cannot reach the directory; nil when it can.
	reachErr error
	// holdsCluster says the directory already holds a cluster (a PG_VERSION file).
	holdsCluster bool
	// pointer is the location named by a pointer file an earlier run left there; empty
	// when there is none.
	pointer string
}

// place decides where the cluster requested at dir lives. A cluster that already exists
// stays where it is; a new one goes under the relocation root when the server user cannot
// reach dir, and so does one that an earlier run placed there (its pointer file says so),
// so that data is kept between runs.
func place(dir string, s dataDirState) (placement, error) {
	switch {
	case s.holdsCluster && s.reachErr != nil:
		return placement{}, fmt.Errorf("%w (the directory already holds a cluster, which is not moved)", s.reachErr)
	case s.holdsCluster:
		return placement{}, nil
	case s.pointer != "" && !s.asRoot:
		return placement{}, fmt.Errorf("%s holds no cluster but a %s file naming %s, where a run as root placed the cluster: "+
			"run as root again, or choose another data directory", dir, LocationFileName, s.pointer)
	case s.reachErr != nil:
		return placement{relocated: true, reason: s.reachErr}, nil
	case s.pointer != "":
		return placement{relocated: true}, nil
	default:
		return placement{}, nil
	}
}

// relocatedDir is the data directory under root of the cluster requested at the absolute
// path requested: a short hash of the path, so the same request finds the same cluster.
func relocatedDir(root, requested string) string {
	sum := sha256.Sum256([]byte(requested))
	return filepath.Join(root, hex.EncodeToString(sum[:])[:relocationHashLen])
}

// ClusterDataDir returns the directory that holds the cluster requested at dataDir: the
// location named by the pointer file a run as root left there when it had to place the
// cluster elsewhere (see [StartCluster]), or dataDir itself.
func ClusterDataDir(dataDir string) string {
	if loc := readPointer(dataDir); loc != "" {
		return loc
	}
	return dataDir
}

// readPointer returns the location named by the pointer file in dir, or "" when there is
// none.
func readPointer(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, LocationFileName))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// relocate prepares the cluster's data directory under root for the request at
// c.requested, which is left holding only a pointer file naming it, and reports whether it
// already holds a cluster.
func (c *Cluster) relocate(root string) (initialized bool, err error) {
	defer derrors.Wrap(&err, "place the cluster under %s", root)
	dir := relocatedDir(root, c.requested)
	// The requested directory holds the pointer file and nothing else.
	entries, err := os.ReadDir(c.requested)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, err
	default:
		for _, e := range entries {
			if e.Name() != LocationFileName {
				return false, fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION file): choose an empty or missing directory", c.requested)
			}
		}
	}

	if err := mkdirMode(root, 0o755); err != nil {
		return false, err
	}
	if err := c.owner.checkTraversable(dir); err != nil {
		return false, err
	}
	initialized, err = c.prepareEmptyOrCluster(dir)
	if err != nil {
		return false, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, err
	}

	if err := os.MkdirAll(c.requested, 0o700); err != nil {
		return false, err
	}
	pointer := filepath.Join(c.requested, LocationFileName)
	if err := os.WriteFile(pointer, []byte(dir+"\n"), 0o644); err != nil {
		return false, err
	}
	c.dataDir = dir
	return initialized, nil
}

// mkdirMode creates dir and its missing parents with mode perm, whatever the umask.
// Directories that exist are left as they are.
func mkdirMode(dir string, perm fs.FileMode) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirMode(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		return err
	}
	return os.Chmod(dir, perm)
}
