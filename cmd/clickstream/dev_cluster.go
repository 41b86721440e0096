package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/clickstream-dev/clickstream/internal/auth"
	"github.com/clickstream-dev/clickstream/internal/bus"
	"github.com/clickstream-dev/clickstream/internal/postgres"
	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/web"
)

// Ports of `clickstream dev --cluster` beyond those of plain dev: the second instance of
// ingest and awards, the other NATS nodes and the replica follow the first ones.
const (
	clusterNATSRoutePort = 6222
	// clusterSecondInstance is how far above the first instance's port the second
	// listens (ingest 8092, awards 8093).
	clusterSecondInstance = 10
	// clusterReadyTimeout bounds the wait for every instance to be ready.
	clusterReadyTimeout = 90 * time.Second
	// clusterStopTimeout bounds the wait for an instance to stop after SIGINT.
	clusterStopTimeout = 20 * time.Second
)

// clusterInstance is one `clickstream serve` child of dev --cluster.
type clusterInstance struct {
	name    string // e.g. "ingest-2"
	service string
	addr    string
	args    []string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func (i *clusterInstance) url() string { return "http://" + i.addr }

// clusterPorts are the ports of every part of the local cluster. With free ports (tests)
// those of NATS and PostgreSQL are left empty for bus.StartLocalCluster and
// postgres.StartCluster to pick.
type clusterPorts struct {
	nats, routes               []int
	primary, replica           int
	registry, ingest, awards   int
	ingestSecond, awardsSecond int
}

// pickClusterPorts uses the dev defaults (and the flags' ports), or free ports when the
// registry's port is 0 (tests): it picks those of the instances, and leaves NATS and
// PostgreSQL to pick their own.
func pickClusterPorts(registryAddr, ingestAddr, awardsAddr string, postgresPort int) (clusterPorts, error) {
	port := func(addr string) (int, error) {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, fmt.Errorf("address %q: %w", addr, err)
		}
		return strconv.Atoi(p)
	}
	registry, err := port(registryAddr)
	if err != nil {
		return clusterPorts{}, err
	}
	if registry == 0 {
		free := make([]int, 5)
		for i := range free {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return clusterPorts{}, err
			}
			defer l.Close()
			free[i] = l.Addr().(*net.TCPAddr).Port
		}
		return clusterPorts{registry: free[0], ingest: free[1], awards: free[2], ingestSecond: free[3], awardsSecond: free[4]}, nil
	}
	natsPort, _ := port(defaultNATSListen)
	p := clusterPorts{registry: registry, primary: postgresPort, replica: postgresPort + 1}
	for i := range 3 {
		p.nats = append(p.nats, natsPort+i)
		p.routes = append(p.routes, clusterNATSRoutePort+i)
	}
	if p.ingest, err = port(ingestAddr); err != nil {
		return clusterPorts{}, err
	}
	if p.awards, err = port(awardsAddr); err != nil {
		return clusterPorts{}, err
	}
	p.ingestSecond, p.awardsSecond = p.ingest+clusterSecondInstance, p.awards+clusterSecondInstance
	return p, nil
}

// runDevCluster is `clickstream dev --cluster`: a three-node NATS JetStream cluster
// (streams at R3), a PostgreSQL primary and a streaming replica, and one registry, two
// ingest and two awards instances, each a `clickstream serve` child process of this
// binary, on loopback. It returns when ctx ends (Ctrl-C) or an instance dies.
func runDevCluster(ctx context.Context, out io.Writer, cfg platform.Config, addrs map[string]string, consoleAddr string) (err error) {
	log := slog.Default()
	dir := filepath.Join(cfg.DataDir, "cluster")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ports, err := pickClusterPorts(addrs[platform.Registry], addrs[platform.Ingest], addrs[platform.Awards], cfg.PostgresPort)
	if err != nil {
		return err
	}
	secret := func(name string) (string, error) { return auth.LoadOrCreateToken(filepath.Join(cfg.DataDir, name)) }
	pgPassword, err := secret(platform.PostgresPasswordFile)
	if err != nil {
		return err
	}
	piiSecret := cfg.Ingest.PIISecret
	if piiSecret == "" {
		if piiSecret, err = secret("pii-secret"); err != nil {
			return err
		}
	}

	nats, err := bus.StartLocalCluster(ctx, bus.LocalClusterConfig{Dir: filepath.Join(dir, "nats"), ClientPorts: ports.nats, RoutePorts: ports.routes})
	if err != nil {
		return fmt.Errorf("start the NATS cluster: %w", err)
	}
	defer nats.Shutdown()
	log.Info("NATS JetStream cluster started", "nodes", nats.Nodes(), "url", nats.URL())

	primary, err := postgres.StartCluster(ctx, postgres.ClusterConfig{DataDir: filepath.Join(dir, "postgres-primary"),
		Port: ports.primary, Password: pgPassword, Logger: log})
	if err != nil {
		return err
	}
	defer stopCluster(primary, "primary")
	if err := primary.CreateDatabase(ctx, "clickstream"); err != nil {
		return err
	}
	// The migrations run once, here, as `clickstream migrate` would: the instances find
	// them applied (and the replica gets them by replication).
	if err := platform.Migrate(ctx, primary.URL("clickstream")); err != nil {
		return err
	}
	replica, err := postgres.StartReplica(ctx, primary, postgres.ClusterConfig{DataDir: filepath.Join(dir, "postgres-replica"),
		Port: ports.replica, Logger: log})
	if err != nil {
		return err
	}
	defer stopCluster(replica, "replica") // deferred last: stops before the primary
	log.Info("PostgreSQL primary and streaming replica started", "primary_port", primary.Port(), "replica_port", replica.Port())

	bin, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(),
		"DATABASE_URL="+primary.URL("clickstream"),
		envName("database-read-url")+"="+replica.URL("clickstream"),
		envName("admin-token")+"="+cfg.AdminToken,
		envName("pii-secret")+"="+piiSecret,
		envName("awards-jwt-secret")+"="+cfg.Awards.JWTSecret,
	)
	common := []string{"--nats-url", nats.URL(), "--stream-replicas", "3",
		"--max-request-bytes", strconv.FormatInt(cfg.HTTP.Limits.MaxRequestBytes, 10),
		"--max-decompression-ratio", strconv.Itoa(cfg.HTTP.Limits.MaxDecompressionRatio)}
	// The ingest instances deliver webhooks where dev does (loopback).
	webhooks := []string{
		"--webhook-allow-networks", (&prefixesFlag{prefixes: &cfg.Ingest.WebhookNetworks.Allow}).String(),
		"--webhook-deny-networks", (&prefixesFlag{prefixes: &cfg.Ingest.WebhookNetworks.Deny}).String(),
	}
	registryURL := fmt.Sprintf("http://127.0.0.1:%d", ports.registry)
	instance := func(name, service string, port int, extra ...string) *clusterInstance {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		args := append([]string{"serve", service, "--addr", addr, "--data-dir", filepath.Join(dir, name)}, common...)
		return &clusterInstance{name: name, service: service, addr: addr, args: append(args, extra...)}
	}
	registry := instance("registry", platform.Registry, ports.registry)
	others := []*clusterInstance{
		instance("ingest-1", platform.Ingest, ports.ingest, append([]string{"--registry-url", registryURL}, webhooks...)...),
		instance("ingest-2", platform.Ingest, ports.ingestSecond, append([]string{"--registry-url", registryURL}, webhooks...)...),
		instance("awards-1", platform.Awards, ports.awards, "--registry-url", registryURL, "--starter-achievements"),
		instance("awards-2", platform.Awards, ports.awardsSecond, "--registry-url", registryURL, "--starter-achievements"),
	}
	all := append([]*clusterInstance{registry}, others...)
	defer stopInstances(all)

	// The registry first: it registers the catalogue the dev environment allows.
	if err := startInstances(ctx, bin, env, []*clusterInstance{registry}); err != nil {
		return err
	}
	keyFile := filepath.Join(cfg.DataDir, ingestKeyFile)
	if _, err := platform.PrepareDevEnvironment(ctx, primary.URL("clickstream"), cfg.Ingest.Environment, keyFile); err != nil {
		return err
	}
	// Both awards instances apply the starter achievements at once, as a deploy would.
	if err := startInstances(ctx, bin, env, others); err != nil {
		return err
	}

	var consoleURL string
	if consoleAddr != "" {
		if ports.registry != defaultPort(defaultRegistryAddr) {
			consoleAddr = "127.0.0.1:0" // free ports everywhere (tests)
		}
		c, err := startConsole(ctx, consoleAddr, web.Config{RegistryURL: registry.url(), IngestURL: others[0].url(), AwardsURL: others[2].url()})
		if err != nil {
			return err
		}
		defer func() { _ = c.wait() }()
		consoleURL = c.url
	}

	fmt.Fprintf(out, "\nClickstream cluster is running; data in %s\n\n", dir)
	for _, i := range all {
		fmt.Fprintf(out, "  %-9s %s\n", i.name, i.url())
	}
	if consoleURL != "" {
		fmt.Fprintf(out, "  console   %s   (through registry, ingest-1 and awards-1)\n", consoleURL)
	}
	fmt.Fprintf(out, "  nats      %s   (3-node JetStream cluster, streams at R3)\n", nats.URL())
	fmt.Fprintf(out, "  postgres  %s   primary (password in %s)\n", primary.RedactedURL("clickstream"), filepath.Join(cfg.DataDir, platform.PostgresPasswordFile))
	fmt.Fprintf(out, "  postgres  %s   streaming replica (public reads of registry and awards)\n", replica.RedactedURL("clickstream"))
	fmt.Fprintf(out, "\n  admin API token in %s\n", filepath.Join(cfg.DataDir, "admin-token"))
	fmt.Fprintf(out, "  ingest API key of environment %q in %s\n", cfg.Ingest.Environment, keyFile)
	fmt.Fprintf(out, "\nEvery instance is a `clickstream serve` child process. Press Ctrl-C to stop.\n\n")

	exited := make(chan *clusterInstance, len(all))
	for _, i := range all {
		go func() {
			<-i.exited
			exited <- i
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case i := <-exited:
		return fmt.Errorf("%s stopped: %v", i.name, i.err)
	}
}

// startInstances starts each instance as a child process with its output prefixed by its
// name, and waits until every one answers /readyz with 200.
func startInstances(ctx context.Context, bin string, env []string, instances []*clusterInstance) error {
	for _, i := range instances {
		i.cmd = exec.Command(bin, i.args...)
		i.cmd.Env = env
		i.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
		stdout, err := i.cmd.StdoutPipe()
		if err != nil {
			return err
		}
		i.cmd.Stderr = i.cmd.Stdout
		if err := i.cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", i.name, err)
		}
		i.exited = make(chan struct{})
		go prefixLines(os.Stderr, "["+i.name+"] ", stdout)
		go func() {
			i.err = i.cmd.Wait()
			close(i.exited)
		}()
	}
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(instances))
	for n, i := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[n] = waitInstanceReady(ctx, i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitInstanceReady polls the instance's /readyz until it answers 200.
func waitInstanceReady(ctx context.Context, i *clusterInstance) error {
	client := &http.Client{Timeout: 5 * time.Second}
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, i.url()+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-i.exited:
			return fmt.Errorf("%s exited before it was ready: %v", i.name, i.err)
		case <-ctx.Done():
			return fmt.Errorf("%s at %s not ready: %w (last answer: %s)", i.name, i.url(), ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopInstances interrupts every running instance and waits for it, killing those that
// take too long.
func stopInstances(instances []*clusterInstance) {
	for _, i := range instances {
		if i.cmd != nil && i.cmd.Process != nil {
			_ = i.cmd.Process.Signal(os.Interrupt)
		}
	}
	for _, i := range instances {
		if i.exited == nil {
			continue
		}
		select {
		case <-i.exited:
		case <-time.After(clusterStopTimeout):
			_ = i.cmd.Process.Kill()
			<-i.exited
		}
	}
}

func stopCluster(c *postgres.Cluster, role string) {
	if err := c.Stop(context.Background()); err != nil {
		slog.Warn("stop PostgreSQL", "role", role, "err", err)
	}
}

// prefixLines copies r to w line by line, each line prefixed.
func prefixLines(w io.Writer, prefix string, r io.Reader) {
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for lines.Scan() {
		fmt.Fprintf(w, "%s%s\n", prefix, lines.Text())
	}
}

// defaultPort is the port of a default address such as defaultRegistryAddr.
func defaultPort(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
