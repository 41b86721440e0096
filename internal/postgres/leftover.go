package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// leftoverWait bounds the wait for a server left over from an earlier run to finish
	// shutting down before StartCluster stops it itself or gives up.
	leftoverWait = 30 * time.Second
	// leftoverPoll is how often that wait looks at the server again.
	leftoverPoll = 100 * time.Millisecond
	// pidFileStatusLine is the line of postmaster.pid (from 0) where the server says
	// whether it is starting, ready or stopping.
	pidFileStatusLine = 7
)

// parentState is what became of the parent process of a server named by postmaster.pid.
type parentState int

const (
	// parentUnknown: there is no /proc to ask, or the parent lives outside this PID
	// namespace.
	parentUnknown parentState = iota
	// parentGone: the parent exited, so the server was handed to init (or to a
	// subreaper, which this does not recognise), or the parent is a zombie.
	parentGone
	// parentSelf: the server is a child of this process.
	parentSelf
	// parentLive: the server is a child of another live process.
	parentLive
)

// leftover is a live server that postmaster.pid names when StartCluster begins.
type leftover struct {
	pid  int
	ppid int
	// stopping says the server has begun shutting down, as it does when the process that
	// started it dies (Pdeathsig on Linux).
	stopping bool
	parent   parentState
}

// orphan reports whether nobody runs the server any more.
func (l leftover) orphan() bool {
	return l.parent == parentGone
}

// leftoverAction is what StartCluster does about a leftover server.
type leftoverAction int

const (
	// actionRefuse: the server is someone's, so StartCluster fails and says how to stop it.
	actionRefuse leftoverAction = iota
	// actionWait for the server to exit, for at most leftoverWait.
	actionWait
	// actionStop the server with a fast shutdown.
	actionStop
)

func (a leftoverAction) String() string {
	return [...]string{actionRefuse: "refuse", actionWait: "wait", actionStop: "stop"}[a]
}

// decide says what to do about a leftover server, before (waited false) or after the
// bounded wait. A server that shuts down is given time to finish, whoever its parent; one
// whose parent is gone is nobody's, so it is stopped once waiting is pointless; one run by
// a live process (this one included) is left alone.
func decide(l leftover, waited bool) leftoverAction {
	switch {
	case l.parent == parentSelf:
		return actionRefuse
	case l.orphan() && (waited || !l.stopping):
		return actionStop
	case l.stopping && !waited:
		return actionWait
	default:
		return actionRefuse
	}
}

// checkNotRunning makes sure no server runs on the data directory. A server left over from
// an earlier run that is shutting down is waited for, and one whose parent is gone is
// stopped; a server run by a live process is an error. A pid file whose process is gone
// is left for postgres to replace; one whose pid now belongs to another program
// (typically after a container restart) is removed.
func (c *Cluster) checkNotRunning(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, "postmaster.pid")
	l, err := c.inspectPidFile(pidFile)
	if err != nil || l == nil {
		return err
	}
	action := decide(*l, false)
	if action == actionWait {
		c.logger.Info("waiting for a PostgreSQL server left over from an earlier run to finish shutting down",
			"pid", l.pid, "parent_pid", l.ppid, "orphan", l.orphan(), "timeout", leftoverWait)
		if l, err = c.waitLeftover(ctx, pidFile); err != nil || l == nil {
			return err
		}
		action = decide(*l, true)
	}
	if action == actionStop {
		return c.stopLeftover(ctx, pidFile, *l)
	}
	return fmt.Errorf("a PostgreSQL server (pid %d, parent pid %d) is already running on data directory %s, probably left over from an earlier run: "+
		"stop it with `pg_ctl stop -D %s` (as the postgres OS user when root) or use another data directory", l.pid, l.ppid, c.dataDir, c.dataDir)
}

// waitLeftover polls pidFile until no live server is named there, leftoverWait passes or
// ctx ends, and returns the server still running (nil if none).
func (c *Cluster) waitLeftover(ctx context.Context, pidFile string) (*leftover, error) {
	ctx, cancel := context.WithTimeout(ctx, leftoverWait)
	defer cancel()
	poll := time.NewTicker(leftoverPoll)
	defer poll.Stop()
	for {
		l, err := c.inspectPidFile(pidFile)
		if err != nil {
			return nil, err
		}
		if l == nil {
			c.logger.Info("the leftover PostgreSQL server has exited")
			return nil, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return l, nil
			}
			return nil, fmt.Errorf("waiting for the PostgreSQL server (pid %d) left over from an earlier run to exit: %w", l.pid, ctx.Err())
		case <-poll.C:
		}
	}
}

// stopLeftover shuts down a server nobody runs any more with pg_ctl, as the server user.
func (c *Cluster) stopLeftover(ctx context.Context, pidFile string, l leftover) error {
	c.logger.Warn("stopping a PostgreSQL server left over from an earlier run: its parent process is gone",
		"pid", l.pid, "parent_pid", l.ppid, "shutting_down", l.stopping)
	cmd := c.owner.command(filepath.Join(c.binDir, "pg_ctl"), "stop", "--pgdata="+c.dataDir, "--mode=fast", "--wait", "--silent",
		"--timeout="+strconv.Itoa(int(leftoverWait.Seconds())))
	cmd.Dir = c.dataDir
	out, err := runCombined(ctx, cmd)
	if err != nil {
		return fmt.Errorf("stop the PostgreSQL server (pid %d) left over from an earlier run on data directory %s: pg_ctl stop: %w\n%s",
			l.pid, c.dataDir, err, out)
	}
	if still, err := c.inspectPidFile(pidFile); err != nil {
		return err
	} else if still != nil {
		return fmt.Errorf("the PostgreSQL server (pid %d) left over from an earlier run on data directory %s still runs after pg_ctl stop", still.pid, c.dataDir)
	}
	c.logger.Info("leftover PostgreSQL server stopped", "pid", l.pid)
	return nil
}

// inspectPidFile returns the live server that pidFile names, or nil when there is none.
// It removes a pid file that names a process which is not a PostgreSQL server.
func (c *Cluster) inspectPidFile(pidFile string) (*leftover, error) {
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil, nil // postgres itself reports a malformed lock file.
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return nil, nil
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
			c.logger.Info("removing stale postmaster.pid", "pid", pid, "process", name)
			return nil, os.Remove(pidFile)
		}
	}
	l := &leftover{pid: pid}
	if len(lines) > pidFileStatusLine {
		l.stopping = strings.TrimSpace(lines[pidFileStatusLine]) == "stopping"
	}
	state, ppid, ok := procState(pid)
	if !ok {
		return l, nil // no /proc: the parent is unknown.
	}
	if state == 'Z' || state == 'X' {
		return nil, nil // exited, not yet reaped.
	}
	l.ppid = ppid
	l.parent = parentOf(ppid, os.Getpid())
	return l, nil
}

// parentOf tells what became of the parent ppid of a server, seen from process self.
func parentOf(ppid, self int) parentState {
	switch ppid {
	case 0:
		return parentUnknown
	case 1:
		return parentGone
	case self:
		return parentSelf
	}
	state, _, ok := procState(ppid)
	if !ok || state == 'Z' || state == 'X' {
		return parentGone
	}
	return parentLive
}

// procState returns the state letter and parent pid of process pid from /proc; ok is false
// when they cannot be read.
func procState(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	return parseStat(string(data))
}

// parseStat reads the state and parent pid from the text of /proc/<pid>/stat:
// "pid (comm) state ppid ...", where comm may hold spaces and parentheses.
func parseStat(stat string) (state byte, ppid int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], ppid, true
}
