package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// localClusterReadyTimeout bounds how long a local cluster (or a restarted node) may take
// to elect its JetStream meta leader and catch up, unless ctx says otherwise.
const localClusterReadyTimeout = 30 * time.Second

// LocalClusterConfig describes a JetStream cluster of NATS servers run in this process on
// one host: `clickstream dev --cluster` and the cluster tests use it to get streams with
// three replicas on one machine, with the real NATS clustering (routes, RAFT).
type LocalClusterConfig struct {
	// Name of the cluster; "clickstream" when empty.
	Name string
	// Dir holds one store directory per node (node-1, node-2, …), kept between runs.
	Dir string
	// Nodes is the number of servers; 3 when zero.
	Nodes int
	// Host to listen on; 127.0.0.1 when empty.
	Host string
	// ClientPorts and RoutePorts, one per node; free ports are picked when empty.
	ClientPorts, RoutePorts []int
}

// LocalCluster is a running LocalClusterConfig. Nodes can be shut down and restarted on
// the same ports and store, as a crashed or rebooted server would be.
type LocalCluster struct {
	cfg   LocalClusterConfig
	nodes []*localNode

	mu sync.Mutex
}

type localNode struct {
	name                  string
	storeDir              string
	clientPort, routePort int
	server                *server.Server // nil while shut down
}

// StartLocalCluster starts every node and waits until the cluster has a meta leader and
// every node is current.
func StartLocalCluster(ctx context.Context, cfg LocalClusterConfig) (_ *LocalCluster, err error) {
	if cfg.Dir == "" {
		return nil, errors.New("local NATS cluster: no directory for the stores")
	}
	if cfg.Name == "" {
		cfg.Name = "clickstream"
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ClientPorts == nil && cfg.RoutePorts == nil {
		ports, err := freePorts(cfg.Host, 2*cfg.Nodes)
		if err != nil {
			return nil, err
		}
		cfg.ClientPorts, cfg.RoutePorts = ports[:cfg.Nodes], ports[cfg.Nodes:]
	}
	if len(cfg.ClientPorts) != cfg.Nodes || len(cfg.RoutePorts) != cfg.Nodes {
		return nil, fmt.Errorf("local NATS cluster: %d nodes need %d client and route ports, got %d and %d",
			cfg.Nodes, cfg.Nodes, len(cfg.ClientPorts), len(cfg.RoutePorts))
	}
	c := &LocalCluster{cfg: cfg}
	for i := range cfg.Nodes {
		name := fmt.Sprintf("node-%d", i+1)
		c.nodes = append(c.nodes, &localNode{name: name, storeDir: filepath.Join(cfg.Dir, name),
			clientPort: cfg.ClientPorts[i], routePort: cfg.RoutePorts[i]})
	}
	defer func() {
		if err != nil {
			c.Shutdown()
		}
	}()
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func freePorts(host string, n int) ([]int, error) {
	ports := make([]int, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func (c *LocalCluster) start(i int) error {
	node := c.nodes[i]
	routes := make([]string, len(c.nodes))
	for j, other := range c.nodes {
		routes[j] = fmt.Sprintf("nats://%s", net.JoinHostPort(c.cfg.Host, fmt.Sprint(other.routePort)))
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: node.name,
		Host:       c.cfg.Host,
		Port:       node.clientPort,
		JetStream:  true,
		StoreDir:   node.storeDir,
		NoSigs:     true,
		MaxPayload: MaxPayload,
		Cluster:    server.ClusterOpts{Name: c.cfg.Name, Host: c.cfg.Host, Port: node.routePort},
		Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
	})
	if err != nil {
		return fmt.Errorf("NATS cluster node %s: %w", node.name, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("NATS cluster node %s (client port %d, route port %d) not ready for connections", node.name, node.clientPort, node.routePort)
	}
	c.mu.Lock()
	node.server = srv
	c.mu.Unlock()
	return nil
}

// URL is the comma-separated client URLs of every node, as a NATS client takes them.
func (c *LocalCluster) URL() string { return strings.Join(c.URLs(), ",") }

// URLs are the client URLs of the nodes, in node order.
func (c *LocalCluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		urls[i] = fmt.Sprintf("nats://%s", net.JoinHostPort(c.cfg.Host, fmt.Sprint(node.clientPort)))
	}
	return urls
}

// Nodes is the number of nodes, running or not.
func (c *LocalCluster) Nodes() int { return len(c.nodes) }

// Name is the server name of node i (as stream info reports leaders).
func (c *LocalCluster) Name(i int) string { return c.nodes[i].name }

// Index returns the node whose server name is name, or -1.
func (c *LocalCluster) Index(name string) int {
	for i, node := range c.nodes {
		if node.name == name {
			return i
		}
	}
	return -1
}

// Server is node i's server; nil while it is shut down.
func (c *LocalCluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].server
}

// ShutdownNode stops node i and waits until it stopped; its store stays.
func (c *LocalCluster) ShutdownNode(i int) {
	c.mu.Lock()
	srv := c.nodes[i].server
	c.nodes[i].server = nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Shutdown()
	srv.WaitForShutdown()
}

// StartNode starts node i, shut down before, again on its ports and store, without
// waiting for the cluster to be ready (WaitReady does).
func (c *LocalCluster) StartNode(i int) error {
	if c.Server(i) != nil {
		return fmt.Errorf("NATS cluster node %s is running", c.nodes[i].name)
	}
	return c.start(i)
}

// RestartNode starts node i again on its ports and store and waits until the cluster is
// ready again.
func (c *LocalCluster) RestartNode(ctx context.Context, i int) error {
	if err := c.StartNode(i); err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

// Shutdown stops every node.
func (c *LocalCluster) Shutdown() {
	for i := range c.nodes {
		c.ShutdownNode(i)
	}
}

// WaitReady waits until one running node is the JetStream meta leader and every running
// node is current with it.
func (c *LocalCluster) WaitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, localClusterReadyTimeout)
		defer cancel()
	}
	for {
		leaders, current, running := 0, 0, 0
		for i := range c.nodes {
			srv := c.Server(i)
			if srv == nil {
				continue
			}
			running++
			if srv.JetStreamIsLeader() {
				leaders++
			}
			if srv.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("NATS cluster of %d nodes (%d running): %d meta leaders, %d current: %w", len(c.nodes), running, leaders, current, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StreamLeader returns the node leading stream (in the global account), or -1 when no
// running node does.
func (c *LocalCluster) StreamLeader(stream string) int {
	for i := range c.nodes {
		srv := c.Server(i)
		if srv != nil && srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}
