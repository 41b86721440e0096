package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// AdminTokenHeader is an alternative to "Authorization: Bearer <token>".
const AdminTokenHeader = "X-Admin-Token"

// RequireAdmin wraps h so that requests to any of the path prefixes need the
// admin token. With an empty token the admin API is closed: every such
// request is refused, never let through.
func RequireAdmin(token string, prefixes ...string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hasPrefix(r.URL.Path, prefixes) {
				h.ServeHTTP(w, r)
				return
			}
			if token == "" {
				deny(w, r, http.StatusForbidden,
					"the admin API is disabled: start the service with --admin-token (or $CLICKSTREAM_ADMIN_TOKEN)")
				return
			}
			got := Bearer(r)
			if got == "" {
				deny(w, r, http.StatusUnauthorized,
					"the admin API needs the admin token: send Authorization: Bearer <token>")
				return
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				deny(w, r, http.StatusForbidden, "the admin token is not valid")
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// Bearer returns the token of "Authorization: Bearer <token>" or of the
// X-Admin-Token header, or "".
func Bearer(r *http.Request) string {
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return strings.TrimSpace(r.Header.Get(AdminTokenHeader))
}

func hasPrefix(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// deny answers in the caller's protocol: a trailers-only gRPC status for
// gRPC and gRPC-Web, a Connect error for Connect, and the REST gateway's
// error shape (numeric gRPC code) for REST.
func deny(w http.ResponseWriter, r *http.Request, httpCode int, msg string) {
	code, name := 16, "unauthenticated"
	if httpCode == http.StatusForbidden {
		code, name = 7, "permission_denied"
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc"):
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Grpc-Status", strconv.Itoa(code))
		w.Header().Set("Grpc-Message", url.PathEscape(msg))
		w.WriteHeader(http.StatusOK)
	case r.Header.Get("Connect-Protocol-Version") != "":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpCode)
		_ = json.NewEncoder(w).Encode(map[string]string{"code": name, "message": msg})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpCode)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "details": []any{}})
	}
}

// LoadOrCreateToken returns the token stored in path, creating it with a
// random value (mode 0600) the first time. `clickstream dev` keeps its
// admin token in the data directory this way.
func LoadOrCreateToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	return token, nil
}
