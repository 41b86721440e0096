package server

import (
	"net"
	"sync"
)

// limitListener accepts at most cap(sem) connections at a time: once that
// many are open, Accept waits until one closes. Connections beyond the cap
// wait in the kernel's accept queue instead of each costing the server a
// goroutine and buffers (golang.org/x/net/netutil.LimitListener, without
// the module).
type limitListener struct {
	net.Listener
	sem       chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// acquire takes a slot, or reports false once the listener is closed.
func (l *limitListener) acquire() bool {
	select {
	case <-l.done:
		return false
	case l.sem <- struct{}{}:
		return true
	}
}

func (l *limitListener) release() { <-l.sem }

func (l *limitListener) Accept() (net.Conn, error) {
	if !l.acquire() {
		// Closed while waiting for a slot: let the underlying listener
		// report the error Serve expects (net.ErrClosed).
		c, err := l.Listener.Accept()
		if err == nil {
			_ = c.Close()
			err = net.ErrClosed
		}
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitConn{Conn: c, release: l.release}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
