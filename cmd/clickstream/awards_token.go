package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// awardsJWTSecretFile is where `clickstream dev` keeps the secret of the
// user tokens awards accepts, in the data directory.
const awardsJWTSecretFile = "awards-jwt-secret"

// newAwardsTokenCommand is `clickstream awards token`: a user token for
// trying the public awards API against `clickstream dev`.
func newAwardsTokenCommand() *cobra.Command {
	var (
		user, secretFile, dataDir string
		ttl                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token --user U",
		Short: "Print a user token (JWT, HS256) for the awards API of the dev stack",
		Long: `Print a JSON Web Token for a user, signed with HS256 with the secret the dev
stack's awards service trusts (<data-dir>/` + awardsJWTSecretFile + `, written by
` + "`clickstream dev`" + `). The token names the user in its sub claim and expires after
--ttl. It is for development: production tokens come from the identity provider
whose secret or public key awards is configured with.

  TOKEN=$(clickstream awards token --user u1)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8083/v1/me/achievements`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(user) == "" {
				return usageError{errors.New("--user is required: the user id the token is for")}
			}
			if ttl <= 0 {
				return usageError{fmt.Errorf("--ttl %s: the token's lifetime must be positive", ttl)}
			}
			if secretFile == "" {
				secretFile = filepath.Join(dataDir, awardsJWTSecretFile)
			}
			data, err := os.ReadFile(secretFile)
			if err != nil {
				return fmt.Errorf("read the awards JWT secret: %w; run `clickstream dev` once to create it, or pass --secret-file", err)
			}
			secret := strings.TrimSpace(string(data))
			token, err := awards.SignDevToken([]byte(secret), user, ttl, time.Now())
			if err != nil {
				return fmt.Errorf("sign a token for %q with %s: %w", user, secretFile, err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&user, "user", "", "user id the token is for (its sub claim)")
	f.StringVar(&secretFile, "secret-file", "", "file holding the HMAC secret; default: <data-dir>/"+awardsJWTSecretFile)
	f.StringVar(&dataDir, "data-dir", ".clickstream", "data directory of the dev stack")
	f.DurationVar(&ttl, "ttl", time.Hour, "how long the token is valid")
	return cmd
}
