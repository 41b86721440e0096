package server

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// gRPC-Web text mode (application/grpc-web-text, the default of Google's
// grpc-web client) is gRPC-Web with the body base64-encoded both ways.
// Connect serves gRPC-Web in binary only, so grpcWebText turns a text-mode
// request into a binary one (the body decoded as it is read, bounded by
// limitBodies like any other) and encodes the answer back, chunk by chunk
// on each flush, so server streams work too.

const (
	grpcWebTextType = "application/grpc-web-text"
	grpcWebType     = "application/grpc-web"
)

// grpcWebText wraps h so that it serves gRPC-Web text mode.
func grpcWebText(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, grpcWebTextType) {
			h.ServeHTTP(w, r)
			return
		}
		r = r.Clone(r.Context())
		r.Header.Set("Content-Type", grpcWebType+strings.TrimPrefix(ct, grpcWebTextType))
		if r.ContentLength > 0 {
			r.ContentLength = r.ContentLength / 4 * 3
		}
		r.Header.Del("Content-Length")
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &base64Body{src: bufio.NewReader(r.Body), closer: r.Body}
		}
		tw := &textWriter{ResponseWriter: w}
		defer tw.finish()
		h.ServeHTTP(tw, r)
	})
}

// base64Body decodes a base64 body that may be made of several chunks,
// each padded on its own, as gRPC-Web text clients send them.
type base64Body struct {
	src    *bufio.Reader
	closer io.Closer
	out    []byte
	err    error
}

func (b *base64Body) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(b.out) > 0 {
			k := copy(p[n:], b.out)
			b.out = b.out[k:]
			n += k
			continue
		}
		if b.err != nil {
			break
		}
		var quantum [4]byte
		k, err := io.ReadFull(b.src, quantum[:])
		switch {
		case k == 0 && errors.Is(err, io.EOF):
			b.err = io.EOF
			continue
		case err != nil:
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the gRPC-Web text body is not base64: its length is not a multiple of 4")
			}
			b.err = err
			continue
		}
		var dec [3]byte
		m, err := base64.StdEncoding.Decode(dec[:], quantum[:])
		if err != nil {
			b.err = fmt.Errorf("the gRPC-Web text body is not base64: %w", err)
			continue
		}
		b.out = append(b.out[:0], dec[:m]...)
		if n > 0 && b.src.Buffered() == 0 {
			break // do not block for more while holding bytes for the caller
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, b.err
}

func (b *base64Body) Close() error { return b.closer.Close() }

// textWriter encodes the answer in base64, each flush ending a padded
// chunk, and names it text mode.
type textWriter struct {
	http.ResponseWriter
	enc         io.WriteCloser
	wroteHeader bool
}

func (t *textWriter) WriteHeader(code int) {
	if !t.wroteHeader {
		t.wroteHeader = true
		h := t.Header()
		if ct := h.Get("Content-Type"); strings.HasPrefix(ct, grpcWebType) {
			h.Set("Content-Type", grpcWebTextType+strings.TrimPrefix(ct, grpcWebType))
		}
		h.Del("Content-Length")
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *textWriter) Write(p []byte) (int, error) {
	if !t.wroteHeader {
		t.WriteHeader(http.StatusOK)
	}
	if t.enc == nil {
		t.enc = base64.NewEncoder(base64.StdEncoding, t.ResponseWriter)
	}
	return t.enc.Write(p)
}

// Flush ends the current chunk (padded) and sends it.
func (t *textWriter) Flush() {
	t.endChunk()
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *textWriter) endChunk() {
	if t.enc != nil {
		_ = t.enc.Close()
		t.enc = nil
	}
}

func (t *textWriter) finish() { t.endChunk() }

func (t *textWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
