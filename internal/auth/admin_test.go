package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestRequireAdmin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name       string
		token      string // configured
		path       string
		header     map[string]string
		wantStatus int
		wantGRPC   string // Grpc-Status for gRPC requests
	}{
		{"open path needs nothing", "t0k", "/v1/events", nil, http.StatusTeapot, ""},
		{"admin path without token", "t0k", "/v1/admin/usage", nil, http.StatusUnauthorized, ""},
		{"admin path with wrong token", "t0k", "/v1/admin/usage", map[string]string{"Authorization": "Bearer nope"}, http.StatusForbidden, ""},
		{"admin path with bearer token", "t0k", "/v1/admin/usage", map[string]string{"Authorization": "Bearer t0k"}, http.StatusTeapot, ""},
		{"bearer is case-insensitive", "t0k", "/v1/admin/usage", map[string]string{"Authorization": "bearer t0k"}, http.StatusTeapot, ""},
		{"x-admin-token header", "t0k", "/v1/admin/usage", map[string]string{AdminTokenHeader: "t0k"}, http.StatusTeapot, ""},
		{"closed when no token is configured", "", "/v1/admin/usage", map[string]string{"Authorization": "Bearer "}, http.StatusForbidden, ""},
		{"closed even with a guessed empty token", "", "/svc.Admin/Push", map[string]string{AdminTokenHeader: ""}, http.StatusForbidden, ""},
		{"grpc without token gets a gRPC status", "t0k", "/svc.Admin/Push", map[string]string{"Content-Type": "application/grpc"}, http.StatusOK, "16"},
		{"grpc with wrong token", "t0k", "/svc.Admin/Push", map[string]string{"Content-Type": "application/grpc+proto", "Authorization": "Bearer x"}, http.StatusOK, "7"},
		{"connect without token", "t0k", "/svc.Admin/Push", map[string]string{"Content-Type": "application/json", "Connect-Protocol-Version": "1"}, http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := RequireAdmin(tt.token, "/v1/admin/", "/svc.Admin/")(ok)
			req := httptest.NewRequest("POST", tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Grpc-Status"); got != tt.wantGRPC {
				t.Errorf("Grpc-Status %q, want %q", got, tt.wantGRPC)
			}
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				var body map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["message"] == "" {
					t.Errorf("refusal body %q is not a JSON error with a message", rec.Body)
				}
			}
		})
	}
}

func TestLoadOrCreateTokenKeepsTheToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "admin-token")
	first, err := LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 32 {
		t.Errorf("token %q is too short", first)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", info.Mode().Perm())
	}
	second, err := LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Errorf("second load gave %q, want the stored %q", second, first)
	}
}
