package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1/ingestv1connect"
)

// ingestAdminCLI is what the commands calling ingest's admin API share:
// where ingest is, the admin token, and the output format.
type ingestAdminCLI struct {
	print      registryCLI // output format and printing
	ingest     string
	adminToken string
	timeout    time.Duration
}

// register adds the shared flags to cmd; calls time out after timeout.
func (c *ingestAdminCLI) register(cmd *cobra.Command, timeout time.Duration) {
	c.timeout = timeout
	f := cmd.PersistentFlags()
	f.StringVar(&c.ingest, "ingest", "http://"+defaultIngestAddr, "base URL of the ingest service")
	f.StringVar(&c.adminToken, "admin-token", "", "token of ingest's admin API (default: the one in "+devAdminTokenFile+")")
	f.StringVarP(&c.print.output, "output", "o", "table", "output format: table or json")
}

// client returns a Connect client of ingest's admin API.
func (c *ingestAdminCLI) client() (ingestv1connect.IngestAdminServiceClient, error) {
	if c.print.output != "table" && c.print.output != "json" {
		return nil, usageError{fmt.Errorf("--output %q: use table or json", c.print.output)}
	}
	u, err := url.Parse(c.ingest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--ingest %q: use ingest's base URL, e.g. http://%s", c.ingest, defaultIngestAddr)}
	}
	token, err := resolveAdminToken(c.adminToken)
	if err != nil {
		return nil, err
	}
	return ingestv1connect.NewIngestAdminServiceClient(&http.Client{Timeout: c.timeout}, strings.TrimRight(c.ingest, "/"),
		connect.WithInterceptors(withAdminToken(token))), nil
}

// failed explains a failed call for a person.
func (c *ingestAdminCLI) failed(op string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return fmt.Errorf("%s: ingest at %s does not answer (%v); start it with `clickstream dev` or point --ingest (or $CLICKSTREAM_INGEST) at it", op, c.ingest, err)
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return fmt.Errorf("%s: %v; pass ingest's admin token with --admin-token or $CLICKSTREAM_ADMIN_TOKEN", op, err)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", op, ce.Message())
	}
	return fmt.Errorf("%s: %w", op, err)
}
