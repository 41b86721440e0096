package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"

	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// grpcWebFrames splits a gRPC-Web body into its frames: messages, and the
// trailers as text.
func grpcWebFrames(t *testing.T, body []byte) (msgs [][]byte, trailers string) {
	t.Helper()
	for len(body) >= 5 {
		flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
		if int(n) > len(body)-5 {
			t.Fatalf("frame of %d bytes in %d", n, len(body)-5)
		}
		frame := body[5 : 5+n]
		body = body[5+n:]
		if flag&0x80 != 0 {
			trailers += string(frame)
		} else {
			msgs = append(msgs, frame)
		}
	}
	return msgs, trailers
}

// gRPC-Web text mode (base64 both ways, a body in chunks each padded on
// its own) is served as gRPC-Web: health Check and a service's RPC answer
// in text mode.
func TestGRPCWebTextMode(t *testing.T) {
	srv := start(t, Config{}, (&registryDouble{}).routes())

	call := func(path string, msg proto.Message, chunks int) (*http.Response, []byte) {
		t.Helper()
		payload, _ := proto.Marshal(msg)
		frame := append([]byte{0, 0, 0, 0, 0}, payload...)
		binary.BigEndian.PutUint32(frame[1:5], uint32(len(payload)))
		// Encode in chunks, each padded: how text clients may send.
		var body strings.Builder
		step := max(len(frame)/chunks, 1)
		for i := 0; i < len(frame); i += step {
			body.WriteString(base64.StdEncoding.EncodeToString(frame[i:min(i+step, len(frame))]))
		}
		req, _ := http.NewRequestWithContext(callContext(t), http.MethodPost, srv.URL()+path, strings.NewReader(body.String()))
		req.Header.Set("Content-Type", "application/grpc-web-text")
		req.Header.Set("Accept", "application/grpc-web-text")
		req.Header.Set("X-Grpc-Web", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		// The answer may be several padded chunks too.
		var out bytes.Buffer
		for len(text) > 0 {
			end := len(text)
			if i := bytes.IndexByte(text, '='); i >= 0 {
				end = i
				for end < len(text) && text[end] == '=' {
					end++
				}
			}
			dec, err := base64.StdEncoding.DecodeString(string(text[:end]))
			if err != nil {
				t.Fatalf("answer %q is not base64: %v", text, err)
			}
			out.Write(dec)
			text = text[end:]
		}
		return resp, out.Bytes()
	}

	resp, body := call("/grpc.health.v1.Health/Check", &healthv1.HealthCheckRequest{}, 1)
	msgs, trailers := grpcWebFrames(t, body)
	t.Logf("health Check, text mode: HTTP %d %s, %d messages, trailers %q", resp.StatusCode, resp.Header.Get("Content-Type"), len(msgs), trailers)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc-web-text") || len(msgs) != 1 || !strings.Contains(trailers, "grpc-status: 0") {
		t.Fatalf("health Check in text mode: %s, messages %d, trailers %q", resp.Header.Get("Content-Type"), len(msgs), trailers)
	}
	got := &healthv1.HealthCheckResponse{}
	if err := proto.Unmarshal(msgs[0], got); err != nil || got.GetStatus() != healthv1.HealthCheckResponse_SERVING {
		t.Errorf("health Check answered %v (%v), want SERVING", got, err)
	}

	// A request in three padded chunks.
	resp, body = call("/clickstream.registry.v1.RegistryService/GetEvent", &registryv1.GetEventRequest{EventId: 4242}, 3)
	msgs, trailers = grpcWebFrames(t, body)
	t.Logf("GetEvent, text mode in 3 chunks: HTTP %d, %d messages, trailers %q", resp.StatusCode, len(msgs), trailers)
	ev := &registryv1.GetEventResponse{}
	if len(msgs) != 1 || proto.Unmarshal(msgs[0], ev) != nil || ev.GetEvent().GetId() != 4242 {
		t.Errorf("GetEvent in text mode: %d messages, event %v, trailers %q; want event 4242", len(msgs), ev.GetEvent(), trailers)
	}
}
