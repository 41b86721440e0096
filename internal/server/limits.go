package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits bound what one request can make a server read and hold, on every
// route and every protocol. They apply before authentication and before a
// handler runs, so no service can forget them.
type Limits struct {
	// MaxRequestBytes bounds a request's body as sent (compressed or not)
	// and, on gRPC, gRPC-Web and Connect, one message once decompressed.
	// A declared Content-Length over it is answered at once, without
	// reading the body; a longer body is cut when the limit is reached.
	// Routes may set their own bound for some paths (Routes.Bodies); a
	// message once decompressed is bounded by the largest bound of the
	// server's routes.
	// Default 4 MiB.
	MaxRequestBytes int64
	// MaxDecompressionRatio bounds how many times larger than its
	// compressed form a message may inflate, checked while inflating once
	// the first MiB is out; negative turns the check off. Default 100.
	MaxDecompressionRatio int
}

// Defaults of Limits.
const (
	DefaultMaxRequestBytes       = 4 << 20
	DefaultMaxDecompressionRatio = 100
	// ratioFloor is how much a message inflates before its ratio is
	// checked: small messages that compress very well are fine.
	ratioFloor = 1 << 20
	// envelopeSlack is what gRPC framing adds to a body beyond its message
	// (a 5-byte prefix per message, end-of-stream frames).
	envelopeSlack = 1 << 10
)

func (l Limits) withDefaults() Limits {
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.MaxDecompressionRatio == 0 {
		l.MaxDecompressionRatio = DefaultMaxDecompressionRatio
	}
	return l
}

// BodyLimit is a class of routes with a bound of its own on the request
// body and the decompressed message, e.g. ingest's event batches.
type BodyLimit struct {
	// Prefixes of the paths in the class, on every protocol: the gRPC
	// service ("/clickstream.ingest.v1.IngestService/") and its REST routes
	// ("/v1/events").
	Prefixes []string
	// MaxBytes is the bound of the class.
	MaxBytes int64
}

// bodyLimits finds the bound on a request's body from its path.
type bodyLimits struct {
	def     int64
	classes []BodyLimit
}

// of is the bound on the body of a request to path.
func (b bodyLimits) of(path string) int64 {
	for _, c := range b.classes {
		for _, p := range c.Prefixes {
			if strings.HasPrefix(path, p) {
				return c.MaxBytes
			}
		}
	}
	return b.def
}

// largest is the largest bound of any route.
func (b bodyLimits) largest() int64 {
	n := b.def
	for _, c := range b.classes {
		n = max(n, c.MaxBytes)
	}
	return n
}

// connectLimits are the handler options bounding every Connect handler
// (gRPC, gRPC-Web, Connect): a message once decompressed is bounded by the
// largest bound of the server's routes (the body as sent is bounded per
// route by limitBodies), and gzip is replaced by one that stops inflating
// there or past the ratio.
func connectLimits(limits Limits, bodies bodyLimits, decoders JSONDecoders) []connect.HandlerOption {
	inflateCap := bodies.largest()
	ratio := limits.MaxDecompressionRatio
	return append(codecs(decoders),
		connect.WithReadMaxBytes(int(inflateCap)),
		// Drop the stock gzip, then add the bounded one under its name.
		connect.WithCompression("gzip", nil, nil),
		connect.WithCompression("gzip",
			func() connect.Decompressor { return &boundedGzip{limit: inflateCap, ratio: ratio} },
			func() connect.Compressor { return gzip.NewWriter(nil) }),
	)
}

// boundedGzip is the gzip decompressor of every Connect handler: it fails
// with ResourceExhausted once it has produced more than limit bytes, or
// more than ratio times the compressed bytes it has read past the first
// MiB, so a gzip bomb costs neither memory nor minutes of CPU. (Connect
// itself stops keeping bytes past the route's bound, then reads the rest
// to report the size: this decompressor ends that read.)
type boundedGzip struct {
	limit int64
	ratio int
	src   countingReader
	zr    *gzip.Reader
	out   int64
	err   error
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadByte lets gzip read the stream byte by byte without reading ahead
// past the end of a member.
func (c *countingReader) ReadByte() (byte, error) {
	var b [1]byte
	n, err := io.ReadFull(c, b[:])
	if n == 1 {
		return b[0], nil
	}
	return 0, err
}

func (g *boundedGzip) Reset(r io.Reader) error {
	g.src = countingReader{r: r}
	g.out, g.err = 0, nil
	if g.zr == nil {
		zr, err := gzip.NewReader(&g.src)
		if err != nil {
			return err
		}
		g.zr = zr
		return nil
	}
	return g.zr.Reset(&g.src)
}

func (g *boundedGzip) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		return 0, errors.New("gzip: Read before Reset")
	}
	// Never produce more than one byte past the limit, so the check below
	// fires before anything larger is handed on.
	if room := g.limit + 1 - g.out; int64(len(p)) > room {
		p = p[:max(room, 1)]
	}
	n, err := g.zr.Read(p)
	g.out += int64(n)
	switch {
	case g.out > g.limit:
		g.err = connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"stopped inflating the message past %d bytes: send less per request", g.limit))
	case g.ratio > 0 && g.out > ratioFloor && g.out > int64(g.ratio)*max(g.src.n, 1):
		g.err = connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
			"the message inflates over %d times its compressed size (%d bytes from %d); the limit is %d times: send it uncompressed or compressed less",
			g.ratio, g.out, g.src.n, g.ratio))
	}
	if g.err != nil {
		return n, g.err
	}
	return n, err
}

func (g *boundedGzip) Close() error {
	if g.zr == nil {
		return nil
	}
	return g.zr.Close()
}

// limitBodies bounds the body of every request by the bound of its route:
// a declared Content-Length over it is answered at once, 413 on REST and
// ResourceExhausted on gRPC, gRPC-Web and Connect, without reading a byte
// of it; a longer body fails to read past it, and the REST gateway then
// answers 413 (gatewayErrorHandler). A gzip body to the REST gateway is
// inflated, bounded as on Connect (the route's limit once inflated, the
// decompression ratio), and answered 413 past them; another
// Content-Encoding, or a Content-Type the gateway does not read
// (restMediaProblem), is answered 415 unread.
func limitBodies(h http.Handler, bodies bodyLimits, ratio int, plainText []string) http.Handler {
	errorWriter := connect.NewErrorWriter(connect.WithRequireConnectProtocolHeader())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := bodies.of(r.URL.Path)
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		toREST := strings.HasPrefix(r.URL.Path, gatewayPattern)
		if toREST {
			if msg := restMediaProblem(r, plainText); msg != "" {
				if info := requestInfoFrom(r.Context()); info != nil {
					info.err = connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
				}
				closeAfter(w, r)
				writeStatus(w, status.New(codes.InvalidArgument, msg), http.StatusUnsupportedMediaType)
				return
			}
		}
		if r.ContentLength > limit+envelopeSlack {
			err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf(
				"the request body is %d bytes; the limit is %d bytes per request: send less (split a batch)", r.ContentLength, limit))
			if info := requestInfoFrom(r.Context()); info != nil {
				info.err = err
			}
			closeAfter(w, r)
			if errorWriter.IsSupported(r) {
				_ = errorWriter.Write(w, r, err)
				return
			}
			writeStatus(w, status.New(codes.ResourceExhausted, err.Message()), http.StatusRequestEntityTooLarge)
			return
		}
		info := requestInfoFrom(r.Context())
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit+envelopeSlack), limit: limit, info: info}
		if toREST && strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
			// The REST gateway reads what it is given: inflate here, with
			// the bounds of Connect's gzip (the route's limit, the ratio).
			r.Body = &inflatedBody{src: r.Body, gz: boundedGzip{limit: limit, ratio: ratio}, limit: limit, info: info}
			r.Header.Del("Content-Encoding")
			r.Header.Del("Content-Length")
			r.ContentLength = -1
		}
		h.ServeHTTP(w, r)
	})
}

// closeAfter closes an HTTP/1.1 connection once the answer is out, so the
// body left unread is never read. (HTTP/2 ends just the stream; there the
// header would close every stream of the connection.)
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

// limitedBody notes in the request info that the body went over its limit,
// so the REST gateway, which turns every read error into InvalidArgument,
// can answer 413 instead.
type limitedBody struct {
	io.ReadCloser
	limit int64
	info  *requestInfo
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) && b.info != nil {
		b.info.bodyLimit = b.limit
	}
	return n, err
}

// overLimit answers a REST request whose body went over its limit: 413
// with ResourceExhausted in the gateway's JSON.
func overLimit(w http.ResponseWriter, info *requestInfo) {
	msg := fmt.Sprintf("the request body is over %d bytes; the limit is %d bytes per request: send less (split a batch)", info.bodyLimit, info.bodyLimit)
	info.err = connect.NewError(connect.CodeResourceExhausted, errors.New(msg))
	writeStatus(w, status.New(codes.ResourceExhausted, msg), http.StatusRequestEntityTooLarge)
}

// inflatedBody is a gzip request body to the REST gateway, inflated whole
// before the gateway reads a byte, so that past the route's limit or the
// decompression ratio every route fails alike (the gateway's JSON decoder
// would stop early on a bomb that is not JSON), noting the limit so the
// gateway answers 413.
type inflatedBody struct {
	src     io.ReadCloser
	gz      boundedGzip
	started bool
	data    bytes.Reader
	err     error
	limit   int64
	info    *requestInfo
}

func (b *inflatedBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		b.err = b.inflate()
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.data.Read(p)
}

func (b *inflatedBody) inflate() error {
	if err := b.gz.Reset(b.src); err != nil {
		return fmt.Errorf("the body is not gzip although Content-Encoding says so: %w", err)
	}
	data, err := io.ReadAll(&b.gz)
	if cerr := new(connect.Error); errors.As(err, &cerr) && cerr.Code() == connect.CodeResourceExhausted && b.info != nil {
		b.info.bodyLimit = b.limit
	}
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) && b.info != nil {
		b.info.bodyLimit = b.limit
	}
	if err != nil {
		return err
	}
	b.data.Reset(data)
	return nil
}

func (b *inflatedBody) Close() error {
	_ = b.gz.Close()
	return b.src.Close()
}

// restMediaProblem is why the REST gateway cannot read r's body as sent,
// or "": it reads JSON (application/json or a +json type; also no
// Content-Type, and application/x-www-form-urlencoded, which is what curl
// -d sends, read as JSON) as is or gzip-compressed.
//
// The paths of plainText take text/plain too (ingest's beacons).
func restMediaProblem(r *http.Request, plainText []string) string {
	if enc := strings.TrimSpace(r.Header.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") && !strings.EqualFold(enc, "gzip") {
		return fmt.Sprintf("the REST gateway takes bodies uncompressed or gzip, not Content-Encoding %.40q: send the body as is or with gzip", enc)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	media, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return fmt.Sprintf("the Content-Type %.60q does not parse (%v): send application/json", ct, err)
	case media == "application/json", strings.HasPrefix(media, "application/") && strings.HasSuffix(media, "+json"),
		media == "application/x-www-form-urlencoded":
		return ""
	case media == "text/plain" && slices.Contains(plainText, r.URL.Path):
		return ""
	}
	return fmt.Sprintf("the REST gateway reads JSON, not Content-Type %.60q: send the body as application/json (gRPC and Connect take protobuf)", media)
}
