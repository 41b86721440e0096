package main

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// keysCLI is what every `clickstream keys` command shares.
type keysCLI struct {
	ingestAdminCLI
}

func newKeysCommand() *cobra.Command {
	c := &keysCLI{}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, restrict and revoke ingest API keys",
		Long: `Every call to ingest needs an API key, sent as "Authorization: Bearer <secret>"
or "X-Api-Key: <secret>". A key is bound to one environment of the registry:
the events it sends are that environment's, and only the event versions the
environment may send are accepted. The secret is shown once, at creation;
ingest keeps only its hash. A revoked key stops working within 30 seconds on
every ingest instance.

The admin token comes from --admin-token ($CLICKSTREAM_ADMIN_TOKEN), else from
` + devAdminTokenFile + `, which ` + "`clickstream dev`" + ` writes.`,
	}
	c.register(cmd, time.Minute)
	cmd.AddCommand(c.createCommand(), c.listCommand(), c.restrictCommand(), c.revokeCommand())
	return cmd
}

func keyRow(w io.Writer, k *ingestv1.ApiKey) {
	revoked := "-"
	if k.GetRevokedAt() != nil {
		revoked = when(k.GetRevokedAt())
	}
	kind := "server"
	if k.GetKind() == ingestv1.ApiKeyKind_API_KEY_KIND_BROWSER {
		kind = "browser " + strings.Join(k.GetAllowedOrigins(), ",")
	}
	row(w, k.GetId(), k.GetEnvironment(), orDash(k.GetDescription()), when(k.GetCreatedAt()), orDash(k.GetCreatedBy()), revoked, kind)
}

func (c *keysCLI) createCommand() *cobra.Command {
	var req ingestv1.CreateKeyRequest
	var browser bool
	cmd := &cobra.Command{
		Use:   "create --env ENVIRONMENT",
		Short: "Create an API key bound to an environment; prints the secret once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Environment == "" {
				return usageError{errors.New("--env is required: the environment the key sends as, e.g. --env web")}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			if req.Actor == "" {
				req.Actor = loginName()
			}
			if browser {
				req.Kind = ingestv1.ApiKeyKind_API_KEY_KIND_BROWSER
			}
			resp, err := client.CreateKey(cmd.Context(), &req)
			if err != nil {
				return c.failed("create key", err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "Key:", resp.GetKey().GetId())
				row(w, "Environment:", resp.GetKey().GetEnvironment())
				row(w, "Secret:", resp.GetSecret())
				row(w, "", "shown once: send it as Authorization: Bearer <secret> or X-Api-Key: <secret>")
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Environment, "env", "", "environment the key sends as (required)")
	f.StringVar(&req.Description, "description", "", "what the key is for, e.g. the app or partner using it")
	f.BoolVar(&browser, "browser", false, "a browser key: safe in a page, sends only from the --origin list (CORS, beacons), rate-limited per IP")
	f.StringSliceVar(&req.AllowedOrigins, "origin", nil, "origin a browser key may send from, e.g. https://shop.example (repeat or comma-separate)")
	return cmd
}

func (c *keysCLI) restrictCommand() *cobra.Command {
	var origins []string
	cmd := &cobra.Command{
		Use:   "restrict KEY_ID --origin ORIGIN...",
		Short: "Replace the origins a browser key may send from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(origins) == 0 {
				return usageError{errors.New("--origin is required: the origins the key may send from, e.g. --origin https://shop.example")}
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.RestrictKey(cmd.Context(), &ingestv1.RestrictKeyRequest{KeyId: args[0], AllowedOrigins: origins, Actor: loginName()})
			if err != nil {
				return c.failed("restrict key "+args[0], err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "KEY", "ENVIRONMENT", "DESCRIPTION", "CREATED", "BY", "REVOKED", "KIND")
				keyRow(w, resp.GetKey())
			})
		},
	}
	cmd.Flags().StringSliceVar(&origins, "origin", nil, "origin the key may send from (repeat or comma-separate)")
	return cmd
}

func (c *keysCLI) listCommand() *cobra.Command {
	var req ingestv1.ListKeysRequest
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.ListKeys(cmd.Context(), &req)
			if err != nil {
				return c.failed("list keys", err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "KEY", "ENVIRONMENT", "DESCRIPTION", "CREATED", "BY", "REVOKED", "KIND")
				for _, k := range resp.GetKeys() {
					keyRow(w, k)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Environment, "env", "", "only keys of this environment")
	f.BoolVar(&req.IncludeRevoked, "revoked", false, "include revoked keys")
	return cmd
}

func (c *keysCLI) revokeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key; calls with it are Unauthenticated from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := c.client()
			if err != nil {
				return err
			}
			resp, err := client.RevokeKey(cmd.Context(), &ingestv1.RevokeKeyRequest{KeyId: args[0], Actor: loginName()})
			if err != nil {
				return c.failed("revoke key "+args[0], err)
			}
			return c.print.print(cmd, resp, func(w io.Writer) {
				row(w, "KEY", "ENVIRONMENT", "DESCRIPTION", "CREATED", "BY", "REVOKED", "KIND")
				keyRow(w, resp.GetKey())
			})
		},
	}
	return cmd
}
