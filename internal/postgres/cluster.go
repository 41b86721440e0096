package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/clickstream-dev/clickstream/internal/derrors"
)

const (
	// startTimeout bounds the wait for a starting server when ctx has no deadline.
	startTimeout = time.Minute
	// abortTimeout bounds the wait for a server that failed to start to shut down.
	abortTimeout = 10 * time.Second
	// logFileName is the server log inside the data directory.
	logFileName = "postgres.log"
	// logTailLines is how many lines of the server log a start error quotes.
	logTailLines = 20
	// maxSocketPath keeps the unix socket path below the kernel limit of 108 bytes.
	maxSocketPath = 100
)

// ClusterConfig configures a private PostgreSQL cluster started from local binaries.
type ClusterConfig struct {
	// DataDir is the cluster data directory; it is created with initdb when empty or
	// missing, and reused when it holds a cluster.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free port.
	Port int
	// Ephemeral turns off fsync, synchronous commits and full-page writes for speed. Data
	// may be lost on a machine crash, so it suits tests and not development data.
	Ephemeral bool
	// Password, when set, is the superuser's password: TCP connections (also replication)
	// must give it (scram-sha-256), and only the unix socket, in a directory that only the
	// server's OS user and root can enter, trusts local connections. pg_hba.conf is
	// rewritten and the password set at every start, so a cluster made with trust before
	// gets a password too. Empty keeps trust authentication on 127.0.0.1 (tests).
	Password string
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running private PostgreSQL server. Its superuser is "postgres": with
// ClusterConfig.Password it must give that password over TCP; without one 127.0.0.1 is
// trusted.
type Cluster struct {
	binDir    string
	requested string // ClusterConfig.DataDir, absolute
	dataDir   string // where the cluster lives: requested, or elsewhere when out of reach
	socketDir string // removed by Stop when it is not dataDir
	port      int
	password  string
	owner     *serverUser
	logger    *slog.Logger

	server  *exec.Cmd
	exited  chan struct{} // closed once server has exited; waitErr is then set
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartCluster starts a PostgreSQL server on cfg.DataDir, running initdb first when the
// directory holds no cluster yet, and returns once the server accepts connections. When
// this process runs as root and the postgres OS user cannot reach cfg.DataDir, the cluster
// lives in /var/lib/clickstream/<short hash of cfg.DataDir> instead, and cfg.DataDir holds
// a [LocationFileName] file naming it (see [Cluster.DataDir]). A server that a killed run
// left on the data directory is waited for while it shuts down, or stopped when nobody runs
// it; StartCluster fails if a live process runs a server there. ctx bounds the startup only;
// the server runs until [Cluster.Stop]. The error wraps [ErrNoBinaries] when the server
// binaries are not installed.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	return startCluster(ctx, cfg, relocationRoot)
}

// startCluster is StartCluster placing clusters out of the server user's reach under
// root.
func startCluster(ctx context.Context, cfg ClusterConfig, root string) (_ *Cluster, err error) {
	defer derrors.Wrap(&err, "start PostgreSQL cluster (data dir %s)", cfg.DataDir)
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory configured")
	}
	requested, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	owner, err := lookupServerUser()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{binDir: binDir, requested: requested, dataDir: requested, password: cfg.Password, owner: owner, logger: logger}

	initialized, err := c.prepareDataDir(root)
	if err != nil {
		return nil, err
	}
	c.logger = logger.With("data_dir", c.dataDir)
	if !initialized {
		if err := c.initdb(ctx, cfg.Ephemeral); err != nil {
			return nil, err
		}
	}
	if err := c.checkNotRunning(ctx); err != nil {
		return nil, err
	}
	if c.password != "" {
		if err := c.writeHBA(); err != nil {
			return nil, err
		}
	}
	c.port = cfg.Port
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx, cfg.Ephemeral); err != nil {
		c.removeSocketDir()
		return nil, err
	}
	if c.password != "" {
		if err := c.setPassword(ctx); err != nil {
			_ = c.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	c.logger.Info("PostgreSQL cluster started", "port", c.port, "bin_dir", c.binDir)
	return c, nil
}

// URL returns the connection URL of database on this cluster, with the password when
// the cluster has one.
func (c *Cluster) URL(database string) string {
	if c.password != "" {
		return c.tcpURL(database, url.UserPassword("postgres", c.password))
	}
	return c.RedactedURL(database)
}

// RedactedURL is URL without the password, for logs and banners.
func (c *Cluster) RedactedURL(database string) string {
	return c.tcpURL(database, url.User("postgres"))
}

// tcpURL is the connection URL of database over TCP as user.
func (c *Cluster) tcpURL(database string, user *url.Userinfo) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     user,
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// socketURL is the connection URL of database over the unix socket, which the server
// trusts whatever the password.
func (c *Cluster) socketURL(database string) string {
	q := url.Values{"host": {c.socketDir}, "port": {strconv.Itoa(c.port)}, "user": {"postgres"}, "sslmode": {"disable"}}
	return "postgres:///" + url.PathEscape(database) + "?" + q.Encode()
}

// hbaConf is the pg_hba.conf of a cluster with a password: the unix socket (in a
// directory only the server's OS user and root can enter) is trusted, TCP needs the
// password, also for replication.
const hbaConf = `# Written by clickstream at every start of this private cluster; edits are lost.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
`

// writeHBA replaces pg_hba.conf with hbaConf.
func (c *Cluster) writeHBA() error {
	path := filepath.Join(c.dataDir, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return c.owner.chown(path)
}

// setPassword sets the superuser's password over the unix socket.
func (c *Cluster) setPassword(ctx context.Context) (err error) {
	defer derrors.Wrap(&err, "set the superuser password")
	conn, err := pgx.Connect(ctx, c.socketURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// ALTER ROLE takes no parameters: the password is quoted as a literal.
	literal := "'" + strings.ReplaceAll(c.password, "'", "''") + "'"
	_, err = conn.Exec(ctx, "SET password_encryption = 'scram-sha-256'; ALTER ROLE postgres PASSWORD "+literal)
	return err
}

// DataDir returns the directory that holds the cluster's data: the requested data
// directory, or the place StartCluster chose because the server user could not reach it.
func (c *Cluster) DataDir() string {
	return c.dataDir
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int {
	return c.port
}

// Stop shuts the server down with a fast shutdown (open sessions are disconnected) and
// waits for it to exit. Calls after the first return the first call's result.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.stopErr = c.stop(ctx)
		if c.stopErr != nil {
			c.stopErr = fmt.Errorf("stop PostgreSQL cluster (data dir %s): %w", c.dataDir, c.stopErr)
		}
	})
	return c.stopErr
}

// CreateDatabase creates the database name owned by the superuser. It does nothing if the
// database already exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (err error) {
	defer derrors.Wrap(&err, "create database %q", name)
	if name == "" {
		return errors.New("empty database name")
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	exists := func() (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok)
		return ok, err
	}
	if ok, err := exists(); err != nil || ok {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		// Another session may have created it in the meantime.
		if ok, existsErr := exists(); existsErr == nil && ok {
			return nil
		}
		return err
	}
	c.logger.Info("database created", "database", name)
	return nil
}

// prepareDataDir decides where the cluster lives (see place), creates its data directory
// when missing, hands it to the server user, and reports whether it already holds a
// cluster. Clusters out of the server user's reach are placed under root.
func (c *Cluster) prepareDataDir(root string) (initialized bool, err error) {
	if err := os.MkdirAll(filepath.Dir(c.requested), 0o755); err != nil {
		return false, err
	}
	state := dataDirState{
		asRoot:   c.owner != nil,
		reachErr: c.owner.checkTraversable(c.requested),
		pointer:  readPointer(c.requested),
	}
	if _, err := os.Stat(filepath.Join(c.requested, "PG_VERSION")); err == nil {
		state.holdsCluster = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	p, err := place(c.requested, state)
	if err != nil {
		return false, err
	}
	if !p.relocated {
		return c.prepareEmptyOrCluster(c.requested)
	}
	initialized, err = c.relocate(root)
	if err != nil {
		if p.reason != nil {
			return false, fmt.Errorf("%w; placing the cluster where the %q OS user can reach it failed too: %w", p.reason, c.owner.name, err)
		}
		return false, err
	}
	reason := "an earlier run placed it there"
	if p.reason != nil {
		reason = p.reason.Error()
	}
	c.logger.Info("PostgreSQL data placed where the server's OS user can reach it",
		"data_dir", c.dataDir, "requested_data_dir", c.requested, "pointer_file", filepath.Join(c.requested, LocationFileName),
		"os_user", c.owner.name, "reason", reason)
	return initialized, nil
}

// prepareEmptyOrCluster reports whether dir holds a cluster; otherwise it makes sure dir
// exists and is empty, and hands it to the server user.
func (c *Cluster) prepareEmptyOrCluster(dir string) (initialized bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o700); err != nil {
			return false, err
		}
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION file): choose an empty or missing directory", dir)
	}
	return false, c.owner.chown(dir)
}

// initdb creates a cluster in the empty data directory.
func (c *Cluster) initdb(ctx context.Context, ephemeral bool) error {
	args := []string{
		"--pgdata=" + c.dataDir,
		"--username=postgres",
		"--auth=trust",
		"--encoding=UTF8",
		"--no-locale",
	}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	cmd := c.owner.command(filepath.Join(c.binDir, "initdb"), args...)
	cmd.Dir = filepath.Dir(c.dataDir)
	if out, err := runCombined(ctx, cmd); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, lastLines(out, logTailLines))
	}
	c.logger.Info("PostgreSQL cluster initialized")
	return nil
}

// start runs postgres and waits until it accepts connections.
func (c *Cluster) start(ctx context.Context, ephemeral bool) error {
	if err := c.makeSocketDir(); err != nil {
		return err
	}
	logPath := filepath.Join(c.dataDir, logFileName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the server holds its own descriptor
	if err := c.owner.chown(logPath); err != nil {
		return err
	}
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}

	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.socketDir,
	}
	if ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c.server = c.owner.command(filepath.Join(c.binDir, "postgres"), args...)
	c.server.Dir = c.dataDir
	c.server.Stdout, c.server.Stderr = logFile, logFile
	if err := c.server.Start(); err != nil {
		return err
	}
	c.exited = make(chan struct{})
	go func() {
		c.waitErr = c.server.Wait()
		close(c.exited)
	}()

	if err := c.waitReady(ctx); err != nil {
		c.abort()
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, logPath, logTail(logPath, logStart))
	}
	return nil
}

// waitReady polls the server with connections until one succeeds, the server exits, or
// ctx (bounded by startTimeout) ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	// A connection attempt can hang on whatever else holds the port; stop it once the
	// server has exited.
	attemptCtx, cancelAttempts := context.WithCancel(ctx)
	defer cancelAttempts()
	go func() {
		select {
		case <-c.exited:
			cancelAttempts()
		case <-attemptCtx.Done():
		}
	}()
	// The socket is trusted: a new password is set only once the server is up.
	config, err := pgx.ParseConfig(c.socketURL("postgres"))
	if err != nil {
		return err
	}
	config.ConnectTimeout = 2 * time.Second
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		conn, err := pgx.ConnectConfig(attemptCtx, config)
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during startup: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not accepting connections on port %d: %w (last attempt: %v)", c.port, ctx.Err(), err)
		case <-poll.C:
		}
	}
}

// abort shuts down a server that failed to become ready and waits briefly for it to exit.
func (c *Cluster) abort() {
	_ = c.server.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(abortTimeout):
		_ = c.server.Process.Kill()
		<-c.exited
	}
}

// stop runs pg_ctl stop, falling back to signalling the server directly, and waits for the
// server process to exit.
func (c *Cluster) stop(ctx context.Context) error {
	defer c.removeSocketDir()
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return fmt.Errorf("postgres had already exited: %w", c.waitErr)
		}
		return nil
	default:
	}
	cmd := c.owner.command(filepath.Join(c.binDir, "pg_ctl"), "stop", "--pgdata="+c.dataDir, "--mode=fast", "--wait", "--silent")
	cmd.Dir = c.dataDir
	if out, err := runCombined(ctx, cmd); err != nil {
		c.logger.Warn("pg_ctl stop failed, signalling postgres directly", "error", err, "output", out)
		if err := c.server.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		// Immediate shutdown: the server recovers from its WAL on the next start.
		_ = c.server.Process.Signal(syscall.SIGQUIT)
		return fmt.Errorf("waiting for postgres to exit: %w", ctx.Err())
	}
	c.logger.Info("PostgreSQL cluster stopped", "port", c.port)
	return nil
}

// makeSocketDir picks the unix socket directory: the data directory when its path is short
// and plain enough, otherwise a new directory under /tmp.
func (c *Cluster) makeSocketDir() error {
	socketPath := filepath.Join(c.dataDir, ".s.PGSQL.65535.lock")
	if len(socketPath) < maxSocketPath && !strings.ContainsAny(c.dataDir, `, "'\`) {
		c.socketDir = c.dataDir
		return nil
	}
	dir, err := os.MkdirTemp("/tmp", "clickstream-pg-")
	if err != nil {
		return err
	}
	c.socketDir = dir
	return c.owner.chown(dir)
}

// removeSocketDir removes the socket directory if it was made for this server.
func (c *Cluster) removeSocketDir() {
	if c.socketDir != "" && c.socketDir != c.dataDir {
		_ = os.RemoveAll(c.socketDir)
	}
}

// freePort asks the kernel for a TCP port on 127.0.0.1 that is free at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runContext runs cmd and interrupts it if ctx ends first.
func runContext(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGINT)
		<-done
		return ctx.Err()
	}
}

// runCombined runs cmd under ctx and returns its trimmed combined output.
func runCombined(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runContext(ctx, cmd)
	return strings.TrimSpace(out.String()), err
}

// logTail returns the last lines the server wrote to the log at path from offset on.
func logTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err.Error()
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(data), logTailLines)
}

// lastLines returns the last n lines of text, indented for quoting in an error.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
