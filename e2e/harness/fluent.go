package harness

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// FluentHandshake connects to a Fluent Forward input at addr and completes
// its shared-key handshake (HELO, PING with the key's digest, PONG) as a
// Fluent client does; the connection's deadline is now plus timeout. It
// fails the test when the input refuses.
func FluentHandshake(t testing.TB, addr, key string, timeout time.Duration) (net.Conn, *msgpack.Decoder) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	dec := msgpack.NewDecoder(conn)
	var helo []any
	if err := dec.Decode(&helo); err != nil || len(helo) != 2 {
		t.Fatalf("HELO: %v %v", helo, err)
	}
	opts, _ := helo[1].(map[string]any)
	nonce := fmt.Sprint(opts["nonce"])
	if b, ok := opts["nonce"].([]byte); ok {
		nonce = string(b)
	}
	const salt, host = "e2e-salt", "e2e-client"
	sum := sha512.Sum512([]byte(salt + host + nonce + key))
	ping, _ := msgpack.Marshal([]any{"PING", host, salt, hex.EncodeToString(sum[:]), "", ""})
	if _, err := conn.Write(ping); err != nil {
		t.Fatal(err)
	}
	var pong []any
	if err := dec.Decode(&pong); err != nil || len(pong) < 2 || pong[1] != true {
		t.Fatalf("PONG: %v %v", pong, err)
	}
	return conn, dec
}
