package awards

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenVerifier turns a user's bearer token into the user it was issued for.
type TokenVerifier interface {
	// VerifyToken returns the user id of a valid token, or an error that
	// tells the caller what is wrong with the token.
	VerifyToken(token string) (userID string, err error)
}

// JWTConfig says which JSON Web Tokens a JWTVerifier accepts. Exactly one of
// Secret and PublicKeyPEM is set.
type JWTConfig struct {
	// Secret verifies HS256 tokens; at least 32 bytes.
	Secret []byte
	// PublicKeyPEM verifies RS256 (an RSA key of at least 2048 bits) or
	// ES256/ES384/ES512 (an ECDSA key on P-256/P-384/P-521) tokens: a PEM
	// "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE".
	PublicKeyPEM []byte
	// Issuer, when set, must be the token's iss claim.
	Issuer string
	// Audience, when set, must be among the token's aud claim.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat; default 30s.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// JWTVerifier verifies signed JWTs: the algorithm must be the one of the
// configured key, exp is required and checked, and the user is the sub
// claim.
type JWTVerifier struct {
	parser           *jwt.Parser
	key              any
	method           string
	issuer, audience string
}

var _ TokenVerifier = (*JWTVerifier)(nil)

const (
	// minJWTSecret is the shortest HMAC secret accepted (RFC 7518 §3.2:
	// a key of at least the hash size).
	minJWTSecret = 32
	// maxTokenBytes bounds the tokens parsed; real ones are far smaller.
	maxTokenBytes = 8 << 10
	// maxSubject bounds the user id a token carries.
	maxSubject = 256
	// defaultLeeway is the clock skew tolerated between issuer and server.
	defaultLeeway = 30 * time.Second
)

// NewJWTVerifier returns a verifier for cfg.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	v := &JWTVerifier{}
	switch {
	case len(cfg.Secret) > 0 && len(cfg.PublicKeyPEM) > 0:
		return nil, errors.New("JWT: configure either a secret (HS256) or a public key (RS256/ES256), not both")
	case len(cfg.Secret) > 0:
		if len(cfg.Secret) < minJWTSecret {
			return nil, fmt.Errorf("JWT: the secret has %d bytes; use at least %d random bytes", len(cfg.Secret), minJWTSecret)
		}
		v.key, v.method = cfg.Secret, jwt.SigningMethodHS256.Alg()
	case len(cfg.PublicKeyPEM) > 0:
		key, method, err := parsePublicKey(cfg.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("JWT public key: %w", err)
		}
		v.key, v.method = key, method
	default:
		return nil, errors.New("JWT: configure a secret (HS256) or a public key (RS256/ES256)")
	}
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = defaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.method}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.issuer, v.audience = cfg.Issuer, cfg.Audience
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// LoadJWTVerifier returns the verifier of a service configured with an
// HMAC secret or a PEM public key file, or nil when neither is set (the
// caller's own achievements are then unavailable). issuer and audience,
// when set, must match the tokens' iss and aud.
func LoadJWTVerifier(secret, publicKeyFile, issuer, audience string) (TokenVerifier, error) {
	cfg := JWTConfig{Secret: []byte(secret), Issuer: issuer, Audience: audience}
	if publicKeyFile != "" {
		data, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT public key: %w", err)
		}
		cfg.PublicKeyPEM = data
	}
	if len(cfg.Secret) == 0 && len(cfg.PublicKeyPEM) == 0 {
		return nil, nil
	}
	return NewJWTVerifier(cfg)
}

// Method is the signing algorithm accepted, e.g. "HS256".
func (v *JWTVerifier) Method() string { return v.method }

// VerifyToken implements TokenVerifier.
func (v *JWTVerifier) VerifyToken(token string) (string, error) {
	if token == "" {
		return "", errors.New("no bearer token: send Authorization: Bearer <JWT>")
	}
	if len(token) > maxTokenBytes {
		return "", fmt.Errorf("the bearer token has %d bytes, more than the %d accepted", len(token), maxTokenBytes)
	}
	var claims jwt.RegisteredClaims
	parsed, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.key, nil })
	if err != nil {
		// The parser reports a method other than the key's as an invalid
		// signature; say which method instead.
		if parsed != nil && !errors.Is(err, jwt.ErrTokenMalformed) {
			if alg, _ := parsed.Header["alg"].(string); alg != v.method {
				return "", fmt.Errorf("the bearer token is signed with %.20q: this server accepts only %s-signed tokens", alg, v.method)
			}
		}
		return "", v.describe(err, &claims)
	}
	// RFC 7515 §4.1.11: a token naming extensions in crit must be refused
	// by a recipient that does not implement them, and this one
	// implements none.
	if crit, ok := parsed.Header["crit"]; ok {
		return "", fmt.Errorf("the bearer token's header names critical extensions (crit %.100v) this server does not implement: issue it without crit", crit)
	}
	if err := numericTimeClaims(v.parser, token); err != nil {
		return "", err
	}
	switch {
	case claims.Subject == "":
		return "", errors.New("the bearer token has no sub claim: it must name the user")
	case len(claims.Subject) > maxSubject:
		return "", fmt.Errorf("the bearer token's sub claim has %d bytes, more than the %d a user id may have", len(claims.Subject), maxSubject)
	}
	return claims.Subject, nil
}

// numericTimeClaims refuses a token whose exp, nbf or iat is not a JSON
// number (RFC 7519 §2 NumericDate): the JWT library reads a quoted number
// ("exp":"9999999999") as one.
func numericTimeClaims(parser *jwt.Parser, token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("the bearer token is not a well-formed JWT (header.payload.signature in base64url)")
	}
	payload, err := parser.DecodeSegment(parts[1])
	if err != nil {
		return errors.New("the bearer token is not a well-formed JWT (header.payload.signature in base64url)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return errors.New("the bearer token's claims are not a JSON object")
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := raw[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return fmt.Errorf("the bearer token's %s claim is %.40s, not a number of seconds since 1970 (RFC 7519 NumericDate)", name, v)
		}
	}
	return nil
}

// describe turns a parse error into a message the caller can act on.
func (v *JWTVerifier) describe(err error, claims *jwt.RegisteredClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the bearer token is not a well-formed JWT (header.payload.signature in base64url)")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errors.New("the bearer token's signature is not valid: it was not signed with the key this server trusts")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("the bearer token cannot be verified with this server's %s key", v.method)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		return errors.New("the bearer token has no exp claim: tokens must expire")
	case errors.Is(err, jwt.ErrTokenExpired) && claims.ExpiresAt != nil:
		return fmt.Errorf("the bearer token expired at %s: get a new one", claims.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet) && claims.NotBefore != nil:
		return fmt.Errorf("the bearer token is not valid before %s", claims.NotBefore.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.issuer != "" && claims.Issuer == "":
		return fmt.Errorf("the bearer token has no iss claim: tokens must be issued by %q", v.issuer)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && v.audience != "" && len(claims.Audience) == 0:
		return fmt.Errorf("the bearer token has no aud claim: tokens must be meant for %q", v.audience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Errorf("the bearer token is issued by %.100q, not by %q", claims.Issuer, v.issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Errorf("the bearer token is not meant for this service: its audience %.100q lacks %q", strings.Join(claims.Audience, ","), v.audience)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the bearer token is issued in the future (iat): check the issuer's clock")
	case errors.Is(err, jwt.ErrInvalidType), errors.Is(err, jwt.ErrTokenInvalidClaims):
		return errors.New("the bearer token's claims are not valid: exp, nbf and iat must be numbers, sub a string")
	}
	return errors.New("the bearer token is not valid")
}

// parsePublicKey reads the first PEM block of data as a public key and
// returns it with the JWT algorithm it verifies.
func parsePublicKey(data []byte) (any, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("no PEM block found: expect -----BEGIN PUBLIC KEY-----")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, "", fmt.Errorf("PEM block %q is not a public key: expect PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, "", err
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.Size()*8 < 2048 {
			return nil, "", fmt.Errorf("the RSA key has %d bits; use at least 2048", k.Size()*8)
		}
		return k, jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, jwt.SigningMethodES256.Alg(), nil
		case elliptic.P384():
			return k, jwt.SigningMethodES384.Alg(), nil
		case elliptic.P521():
			return k, jwt.SigningMethodES512.Alg(), nil
		}
		return nil, "", fmt.Errorf("the ECDSA curve %s is not supported: use P-256 (ES256)", k.Curve.Params().Name)
	}
	return nil, "", fmt.Errorf("a %T key is not supported: use RSA (RS256) or ECDSA P-256 (ES256)", key)
}

// SignDevToken returns an HS256 token for userID, valid for ttl from now,
// signed with secret: what `clickstream awards token` prints for trying
// the API against `clickstream dev`.
func SignDevToken(secret []byte, userID string, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case strings.TrimSpace(userID) == "":
		return "", errors.New("a token needs a user id")
	case ttl <= 0:
		return "", fmt.Errorf("a token's lifetime must be positive, not %s", ttl)
	case len(secret) < minJWTSecret:
		return "", fmt.Errorf("the secret has %d bytes; use at least %d", len(secret), minJWTSecret)
	}
	claims := jwt.RegisteredClaims{
		Issuer:    "clickstream dev",
		Subject:   userID,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
