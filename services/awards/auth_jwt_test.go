package awards_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/clickstream-dev/clickstream/services/awards"
)

// publicPEM encodes key's public half as a PEM "PUBLIC KEY".
func publicPEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signWithHeader signs claims with HS256 and extra header parameters.
func signWithHeader(t testing.TB, key []byte, claims jwt.Claims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// clock is the fixed time the verifiers of these tests see.
var clock = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func claims(sub string, exp time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Subject: sub, IssuedAt: jwt.NewNumericDate(clock), ExpiresAt: jwt.NewNumericDate(clock.Add(exp))}
}

func TestJWTVerifier(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return clock }
	hmac, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := awards.NewJWTVerifier(awards.JWTConfig{PublicKeyPEM: publicPEM(t, &rsaKey.PublicKey), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	es, err := awards.NewJWTVerifier(awards.JWTConfig{PublicKeyPEM: publicPEM(t, &ecKey.PublicKey), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret, Now: now, Issuer: "https://id.example", Audience: "awards"})
	if err != nil {
		t.Fatal(err)
	}
	scopedClaims := func(iss string, aud ...string) jwt.RegisteredClaims {
		c := claims("u9", time.Hour)
		c.Issuer, c.Audience = iss, aud
		return c
	}
	if hmac.Method() != "HS256" || rs.Method() != "RS256" || es.Method() != "ES256" {
		t.Errorf("methods %s %s %s, want HS256 RS256 ES256", hmac.Method(), rs.Method(), es.Method())
	}

	tests := []struct {
		name     string
		verifier *awards.JWTVerifier
		token    string
		user     string // "" when refused
		err      string
	}{
		{"HS256", hmac, sign(t, jwt.SigningMethodHS256, testSecret, claims("u1", time.Hour)), "u1", ""},
		{"RS256", rs, sign(t, jwt.SigningMethodRS256, rsaKey, claims("u2", time.Hour)), "u2", ""},
		{"ES256", es, sign(t, jwt.SigningMethodES256, ecKey, claims("u3", time.Hour)), "u3", ""},
		{"within leeway", hmac, sign(t, jwt.SigningMethodHS256, testSecret, claims("u1", -10*time.Second)), "u1", ""},
		{"expired", hmac, sign(t, jwt.SigningMethodHS256, testSecret, claims("u1", -time.Minute)), "", "expired at 2026-11-01T11:59:00Z"},
		{"another secret", hmac, sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!"), claims("u1", time.Hour)), "", "signature is not valid"},
		{"another EC key", es, sign(t, jwt.SigningMethodES256, otherEC, claims("u1", time.Hour)), "", "signature is not valid"},
		{"no sub", hmac, sign(t, jwt.SigningMethodHS256, testSecret, claims("", time.Hour)), "", "no sub claim"},
		{"long sub", hmac, sign(t, jwt.SigningMethodHS256, testSecret, claims(strings.Repeat("u", 257), time.Hour)), "", "sub claim has 257 bytes"},
		{"no exp", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "u1"}), "", "no exp claim"},
		{"not yet valid", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "u1",
			ExpiresAt: jwt.NewNumericDate(clock.Add(2 * time.Hour)), NotBefore: jwt.NewNumericDate(clock.Add(time.Hour))}), "", "not valid before"},
		{"issued in the future", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.RegisteredClaims{Subject: "u1",
			ExpiresAt: jwt.NewNumericDate(clock.Add(2 * time.Hour)), IssuedAt: jwt.NewNumericDate(clock.Add(time.Hour))}), "", "issued in the future"},
		// An RS256 verifier must not take an HS256 token signed with its
		// public key (the algorithm confusion attack).
		{"HS256 with the RSA public key", rs, sign(t, jwt.SigningMethodHS256, publicPEM(t, &rsaKey.PublicKey), claims("u1", time.Hour)), "", "only RS256"},
		{"RS256 on the HMAC verifier", hmac, sign(t, jwt.SigningMethodRS256, rsaKey, claims("u1", time.Hour)), "", "only HS256"},
		{"alg none", hmac, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("u1", time.Hour)), "", "only HS256"},
		{"exp a string", hmac, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6InRvbW9ycm93In0.x", "", "not a well-formed JWT"},
		// Quoted numbers are numbers to the JWT library; RFC 7519 wants
		// numbers.
		{"exp a quoted number", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "exp": "1893456000"}), "", `exp claim is "1893456000", not a number`},
		{"nbf a quoted number", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "exp": clock.Add(time.Hour).Unix(), "nbf": "0"}), "", `nbf claim is "0", not a number`},
		{"iat a quoted number", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "exp": clock.Add(time.Hour).Unix(), "iat": "0"}), "", `iat claim is "0", not a number`},
		{"numbers as numbers", hmac, sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "u1", "exp": clock.Add(time.Hour).Unix(), "nbf": 0, "iat": 1.5}), "u1", ""},
		// RFC 7515 §4.1.11: unknown critical extensions are refused.
		{"crit header", hmac, signWithHeader(t, testSecret, claims("u1", time.Hour), map[string]any{"crit": []string{"exp-ext"}, "exp-ext": true}), "", "critical extensions"},
		{"empty crit header", hmac, signWithHeader(t, testSecret, claims("u1", time.Hour), map[string]any{"crit": []string{}}), "", "critical extensions"},
		{"issuer and audience", scoped, sign(t, jwt.SigningMethodHS256, testSecret, scopedClaims("https://id.example", "web", "awards")), "u9", ""},
		{"another issuer", scoped, sign(t, jwt.SigningMethodHS256, testSecret, scopedClaims("https://evil.example", "awards")), "", `issued by "https://evil.example", not by "https://id.example"`},
		{"another audience", scoped, sign(t, jwt.SigningMethodHS256, testSecret, scopedClaims("https://id.example", "billing")), "", `its audience "billing" lacks "awards"`},
		{"no issuer", scoped, sign(t, jwt.SigningMethodHS256, testSecret, scopedClaims("", "awards")), "", `no iss claim: tokens must be issued by "https://id.example"`},
		{"no audience", scoped, sign(t, jwt.SigningMethodHS256, testSecret, scopedClaims("https://id.example")), "", `no aud claim`},
		{"empty", hmac, "", "", "no bearer token"},
		{"garbage", hmac, "a.b.c", "", "not a well-formed JWT"},
		{"too long", hmac, strings.Repeat("a", 9000), "", "more than the 8192 accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, err := tc.verifier.VerifyToken(tc.token)
			switch {
			case tc.user != "" && (err != nil || user != tc.user):
				t.Errorf("VerifyToken = %q, %v; want %q", user, err, tc.user)
			case tc.user == "" && (err == nil || user != "" || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("VerifyToken = %q, %v; want an error saying %q", user, err, tc.err)
			}
		})
	}
}

func TestNewJWTVerifierErrors(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := awards.NewJWTVerifier(awards.JWTConfig{PublicKeyPEM: publicPEM(t, &p384.PublicKey)}); err != nil || v.Method() != "ES384" {
		t.Errorf("P-384 key: %v, %v; want ES384", v, err)
	}
	tests := []struct {
		name string
		cfg  awards.JWTConfig
		want string
	}{
		{"nothing", awards.JWTConfig{}, "configure a secret"},
		{"both", awards.JWTConfig{Secret: testSecret, PublicKeyPEM: publicPEM(t, &p384.PublicKey)}, "not both"},
		{"short secret", awards.JWTConfig{Secret: []byte("short")}, "at least 32"},
		{"not PEM", awards.JWTConfig{PublicKeyPEM: []byte("ssh-rsa AAAA")}, "no PEM block"},
		{"private key", awards.JWTConfig{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}, "not a public key"},
		{"small RSA key", awards.JWTConfig{PublicKeyPEM: publicPEM(t, &small.PublicKey)}, "at least 2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := awards.NewJWTVerifier(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewJWTVerifier: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if v, err := awards.LoadJWTVerifier("", "", "", ""); v != nil || err != nil {
		t.Errorf("LoadJWTVerifier with nothing = %v, %v; want nil, nil", v, err)
	}
	if _, err := awards.LoadJWTVerifier("", "/nonexistent/key.pem", "", ""); err == nil || !strings.Contains(err.Error(), "key.pem") {
		t.Errorf("LoadJWTVerifier of a missing file: %v, want an error naming it", err)
	}
}

func TestSignDevToken(t *testing.T) {
	tok, err := awards.SignDevToken(testSecret, "u1", time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	v, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret, Now: func() time.Time { return clock.Add(59 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	if user, err := v.VerifyToken(tok); err != nil || user != "u1" {
		t.Errorf("fresh dev token: %q, %v", user, err)
	}
	late, _ := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret, Now: func() time.Time { return clock.Add(2 * time.Minute) }})
	if _, err := late.VerifyToken(tok); err == nil {
		t.Error("a dev token is accepted after its ttl")
	}
	for _, bad := range []struct {
		user string
		ttl  time.Duration
		key  []byte
	}{{"", time.Hour, testSecret}, {"u1", 0, testSecret}, {"u1", time.Hour, []byte("short")}} {
		if _, err := awards.SignDevToken(bad.key, bad.user, bad.ttl, clock); err == nil {
			t.Errorf("SignDevToken(%q, %s, %d-byte key) succeeded", bad.user, bad.ttl, len(bad.key))
		}
	}
}

// FuzzVerifyToken feeds arbitrary bearer tokens to the verifier: it never
// panics, and it accepts only tokens that carry a user and were signed
// with the secret, i.e. that re-verify to the same user.
func FuzzVerifyToken(f *testing.F) {
	v, err := awards.NewJWTVerifier(awards.JWTConfig{Secret: testSecret, Now: func() time.Time { return clock }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, claims("u1", time.Hour)))
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, claims("", time.Hour)))
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, claims("u1", -time.Hour)))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("u1", time.Hour)))
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSIsImV4cCI6MX0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		user, err := v.VerifyToken(token)
		if err != nil {
			if user != "" || err.Error() == "" {
				t.Fatalf("refused with user %q, error %q", user, err)
			}
			return
		}
		if user == "" || len(user) > 256 {
			t.Fatalf("accepted %q with user %q", token, user)
		}
		parsed, perr := jwt.ParseWithClaims(token, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return testSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return clock }), jwt.WithLeeway(30*time.Second))
		if perr != nil || parsed.Claims.(*jwt.RegisteredClaims).Subject != user {
			t.Fatalf("accepted %q as %q, but it does not verify independently: %v", token, user, perr)
		}
	})
}

// FuzzPageToken: any page token decodes to an achievement id or is
// refused, and encoding round-trips.
func FuzzPageToken(f *testing.F) {
	f.Add("YTE6Y2FmZS1leHBlcnQ")
	f.Add("garbage!")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := awards.DecodePageTokenForTest(token)
		if err != nil {
			return
		}
		if id == "" {
			t.Fatalf("%q decodes to an empty id", token)
		}
		back, err := awards.DecodePageTokenForTest(awards.EncodePageTokenForTest(id))
		if err != nil || back != id {
			t.Fatalf("round trip of %q: %q, %v", id, back, err)
		}
	})
}
