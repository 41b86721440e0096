package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// rawConn dials srv over plain TCP, so the test controls exactly what is
// sent and when; the connection closes when the test ends.
func rawConn(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// roundTrip sends a keep-alive GET for path on conn and reads the answer,
// waiting at most timeout.
func roundTrip(t *testing.T, conn net.Conn, r *bufio.Reader, path string, timeout time.Duration) (*http.Response, error) {
	t.Helper()
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return readResponse(conn, r, timeout)
}

func readResponse(conn net.Conn, r *bufio.Reader, timeout time.Duration) (*http.Response, error) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, err
}

// waitClosed reads conn until the server closes it and fails the test if
// nothing happens within a generous bound.
func waitClosed(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server left the connection open")
	}
	// io.Copy reports a clean close (EOF) as nil; a reset is a close too.
}

// With MaxConns 2, a third connection waits, unserved, until one of the
// first two closes.
func TestMaxConns(t *testing.T) {
	srv := start(t, Config{MaxConns: 2}, (&registryDouble{}).routes())
	var conns [2]net.Conn
	for i := range conns {
		conns[i] = rawConn(t, srv)
		resp, err := roundTrip(t, conns[i], bufio.NewReader(conns[i]), "/healthz", 5*time.Second)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v, %v; want 200", i+1, resp, err)
		}
	}

	third := rawConn(t, srv)
	r := bufio.NewReader(third)
	if resp, err := roundTrip(t, third, r, "/healthz", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection over MaxConns 2 was answered: %v, %v", resp, err)
	}
	_ = conns[0].Close()
	resp, err := readResponse(third, r, 10*time.Second)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("third connection after one closed: %v, %v; want 200", resp, err)
	}
}
