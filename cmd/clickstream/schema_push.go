package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1/registryv1connect"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// devAdminTokenFile is where `clickstream dev`, run in the working
// directory, keeps its admin token.
const devAdminTokenFile = ".clickstream/admin-token"

func newSchemaPushCommand() *cobra.Command {
	var (
		registryURL, adminToken string
		req                     registryv1.PushSchemasRequest
	)
	cmd := &cobra.Command{
		Use:   "push [dir]",
		Short: "Compile the catalogue in dir (default proto) and register its new event versions in the registry",
		Long: `Compile the event catalogue under dir (default proto) and push it to the
registry, which registers the versions it does not have yet under a new
catalogue revision. The registry refuses the whole push when a registered
version changed or is missing, a version number is skipped, or an option is
misused, and lists every violation; nothing is stored then.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else
from .clickstream/admin-token, which ` + "`clickstream dev`" + ` writes when run in this
directory.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "proto"
			if len(args) == 1 {
				dir = args[0]
			}
			token, err := resolveAdminToken(adminToken)
			if err != nil {
				return err
			}
			if req.Author == "" {
				req.Author = loginName()
			}
			set, err := schema.Compile(cmd.Context(), os.DirFS(dir))
			if err != nil {
				return fmt.Errorf("compile %s: %w", dir, err)
			}
			req.FileDescriptorSet = set.FileDescriptorSet()
			c := &registryCLI{url: registryURL, output: "table"}
			if _, err := c.client(); err != nil { // checks the URL
				return err
			}
			admin := registryv1connect.NewRegistryAdminServiceClient(&http.Client{Timeout: time.Minute},
				strings.TrimRight(registryURL, "/"), connect.WithInterceptors(withAdminToken(token)))
			resp, err := admin.PushSchemas(cmd.Context(), &req)
			if violations := pushViolations(err); violations != nil {
				for _, v := range violations {
					fmt.Fprintln(cmd.ErrOrStderr(), v.Error())
				}
				return fmt.Errorf("push rejected: %d violation(s); nothing was stored", len(violations))
			}
			switch connect.CodeOf(err) {
			case connect.CodeUnauthenticated, connect.CodePermissionDenied:
				return fmt.Errorf("%w; pass the registry's admin token with --admin-token or $CLICKSTREAM_ADMIN_TOKEN", c.failed("push schemas", err))
			}
			if err != nil {
				return c.failed("push schemas", err)
			}
			printPush(cmd, resp)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&req.DryRun, "dry-run", false, "check the push; store nothing")
	f.StringVar(&registryURL, "registry", defaultRegistryURL, "base URL of the registry")
	f.StringVar(&adminToken, "admin-token", "", "token of the registry's admin API (default: the one in "+devAdminTokenFile+")")
	f.StringVar(&req.Author, "author", "", "who pushes, e.g. ci@payments (default: your login name)")
	f.StringVar(&req.Message, "message", "", "why, e.g. the commit subject")
	return cmd
}

// printPush says what a push registered, or would register in a dry run.
func printPush(cmd *cobra.Command, resp *registryv1.PushSchemasResponse) {
	out := cmd.OutOrStdout()
	added := strings.Join(resp.GetAdded(), ", ")
	switch {
	case resp.GetDryRun() && len(resp.GetAdded()) > 0:
		fmt.Fprintf(out, "dry run: would register %d new version(s): %s (%d unchanged); nothing stored, the catalogue stays at revision %d\n",
			len(resp.GetAdded()), added, resp.GetUnchanged(), resp.GetRevision())
	case len(resp.GetAdded()) > 0:
		fmt.Fprintf(out, "registered %d new version(s) at revision %d: %s (%d unchanged)\n",
			len(resp.GetAdded()), resp.GetRevision(), added, resp.GetUnchanged())
	default:
		fmt.Fprintf(out, "nothing new: %d version(s) already registered; the catalogue is at revision %d\n",
			resp.GetUnchanged(), resp.GetRevision())
	}
}

// pushViolations returns the violations of a rejected push, nil for any
// other outcome.
func pushViolations(err error) []schema.Violation {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument {
		return nil
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		rejection, ok := v.(*registryv1.PushRejection)
		if derr != nil || !ok {
			continue
		}
		violations := make([]schema.Violation, 0, len(rejection.GetViolations()))
		for _, pv := range rejection.GetViolations() {
			violations = append(violations, schema.Violation{
				File:    pv.GetFile(),
				Line:    int(pv.GetLine()),
				Message: pv.GetMessage(),
				Field:   pv.GetField(),
				Rule:    pv.GetRule(),
				Detail:  pv.GetDetail(),
				Hint:    pv.GetHint(),
			})
		}
		return violations
	}
	return nil
}

// resolveAdminToken returns the flag's token or, without one, the token
// `clickstream dev` keeps in the working directory; "" when there is none
// (the registry then says the admin API needs one).
func resolveAdminToken(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	data, err := os.ReadFile(filepath.FromSlash(devAdminTokenFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the admin token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// withAdminToken sends the admin token with every call.
func withAdminToken(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}

// loginName is the user running the CLI, "" when unknown.
func loginName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
