package postgres

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// serverUserName is the OS account that runs the server when this process runs as root,
// because PostgreSQL refuses to run as root.
const serverUserName = "postgres"

// serverUser is the OS account the server binaries run as. A nil *serverUser means the
// current user, which is the case whenever this process does not run as root.
type serverUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

// lookupServerUser returns the account to run the server binaries as: nil unless this
// process runs as root, the postgres account otherwise.
func lookupServerUser() (*serverUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUserName)
	if err != nil {
		return nil, fmt.Errorf("running as root, so PostgreSQL must run as the %q OS user, which cannot be looked up (create it, run as a non-root user, or set DATABASE_URL to an existing server): %w",
			serverUserName, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of OS user %q: %w", u.Uid, serverUserName, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of OS user %q: %w", u.Gid, serverUserName, err)
	}
	su := &serverUser{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				su.groups = append(su.groups, uint32(g))
			}
		}
	}
	return su, nil
}

// command prepares name to run as the server user, in its own process group so that a
// terminal's interrupt reaches this process only, which then stops the server itself.
func (u *serverUser) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = childProcAttr()
	if u != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.uid, Gid: u.gid}
	}
	return cmd
}

// chown gives path to the server user; it does nothing for the current user.
func (u *serverUser) chown(path string) error {
	if u == nil {
		return nil
	}
	return os.Chown(path, int(u.uid), int(u.gid))
}

// checkTraversable reports an error naming the first ancestor directory of dir that the
// server user cannot enter.
func (u *serverUser) checkTraversable(dir string) error {
	if u == nil {
		return nil
	}
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		info, err := os.Stat(parent)
		if err != nil {
			return err
		}
		if !u.canEnter(info) {
			return fmt.Errorf("directory %s (mode %04o) is not traversable by the %q OS user that runs PostgreSQL because this process runs as root: "+
				"choose a data directory elsewhere (--data-dir, e.g. under /var/tmp) or set DATABASE_URL to an existing server",
				parent, info.Mode().Perm(), u.name)
		}
		if parent == filepath.Dir(parent) {
			return nil
		}
	}
}

// canEnter reports whether the directory described by info grants the user search
// permission.
func (u *serverUser) canEnter(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := info.Mode().Perm()
	switch {
	case st.Uid == u.uid:
		return perm&0o100 != 0
	case slices.Contains(u.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
