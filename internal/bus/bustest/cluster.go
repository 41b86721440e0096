package bustest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterReadyTimeout bounds how long a cluster (or a restarted node) may take to elect its
// JetStream meta leader and catch up.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a NATS JetStream cluster of in-process servers on loopback, each with its own
// store directory, as tests need for streams with more than one replica. Nodes can be shut
// down and restarted on the same ports and store, as a crashed or rebooted server would be.
type Cluster struct {
	t     testing.TB
	name  string
	nodes []*clusterNode

	mu sync.Mutex
}

type clusterNode struct {
	name       string
	storeDir   string
	clientPort int
	routePort  int
	server     *server.Server // nil while shut down
}

// NewCluster starts a JetStream cluster of n servers in t.TempDir(), waits until it has
// a meta leader and every server is current, and shuts it down at cleanup.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	ports := freePorts(t, 2*n)
	dir := t.TempDir()
	c := &Cluster{t: t, name: "clickstream-test"}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{
			name:       fmt.Sprintf("node-%d", i+1),
			storeDir:   filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
			clientPort: ports[2*i],
			routePort:  ports[2*i+1],
		})
	}
	t.Cleanup(c.shutdownAll)
	for i := range c.nodes {
		if err := c.start(i); err != nil {
			t.Fatalf("bustest: %v", err)
		}
	}
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatalf("bustest: %v", err)
	}
	return c
}

// freePorts returns n distinct free TCP ports on loopback.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	listeners := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("bustest: free port: %v", err)
		}
		listeners[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func (c *Cluster) start(i int) error {
	node := c.nodes[i]
	var routes []string
	for _, other := range c.nodes {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", other.routePort))
	}
	opts := &server.Options{
		ServerName: node.name,
		Host:       "127.0.0.1",
		Port:       node.clientPort,
		JetStream:  true,
		StoreDir:   node.storeDir,
		NoSigs:     true,
		Cluster: server.ClusterOpts{
			Name: c.name,
			Host: "127.0.0.1",
			Port: node.routePort,
		},
		Routes: server.RoutesFromStr(strings.Join(routes, ",")),
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", node.name, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("cluster %s (client port %d, route port %d) not ready for connections", node.name, node.clientPort, node.routePort)
	}
	c.mu.Lock()
	node.server = srv
	c.mu.Unlock()
	return nil
}

// URL is the comma-separated client URLs of every node, as a NATS client takes them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// URLs are the client URLs of the nodes, in node order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, node := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", node.clientPort)
	}
	return urls
}

// Name is the server name of node i (as stream info reports leaders).
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Index returns the node whose server name is name, or -1.
func (c *Cluster) Index(name string) int {
	for i, node := range c.nodes {
		if node.name == name {
			return i
		}
	}
	return -1
}

// Server is node i's server; nil while it is shut down.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].server
}

// Shutdown stops node i and waits until it stopped; its store stays.
func (c *Cluster) Shutdown(i int) {
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

// Restart starts node i again on its ports and store, without waiting for the cluster
// (WaitReady does).
func (c *Cluster) Restart(i int) error {
	if c.Server(i) != nil {
		return fmt.Errorf("cluster %s is running", c.nodes[i].name)
	}
	return c.start(i)
}

// WaitReady waits until one running node is the JetStream meta leader and every running
// node is current with it.
func (c *Cluster) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, clusterReadyTimeout)
	defer cancel()
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
			return fmt.Errorf("cluster of %d nodes (%d running): %d meta leaders, %d current: %w", len(c.nodes), running, leaders, current, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StreamLeader returns the node leading stream (in the global account), or -1 when no
// running node does.
func (c *Cluster) StreamLeader(stream string) int {
	for i := range c.nodes {
		srv := c.Server(i)
		if srv != nil && srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

func (c *Cluster) shutdownAll() {
	for i := range c.nodes {
		c.Shutdown(i)
	}
}
