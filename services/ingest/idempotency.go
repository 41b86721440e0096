package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode"
	"unicode/utf8"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
)

// MaxIdempotencyKeyBytes bounds an idempotency key. A key travels as the
// Nats-Msg-Id header of the event and of its dead letter, and back in the
// reply, so it must be short: a UUID is 36 bytes.
const MaxIdempotencyKeyBytes = 128

// idempotencyKeyPath is the field path of a rejection of the key.
const idempotencyKeyPath = "idempotency_key"

// checkIdempotencyKey says what is wrong with a client's idempotency key,
// if anything: at most MaxIdempotencyKeyBytes of valid UTF-8 without
// control characters (CR, LF, NUL, tab, DEL and the C1 controls) or line
// and paragraph separators, which would break the header it travels in.
// The empty key is valid: ingest assigns one.
func checkIdempotencyKey(key string) *ingestv1.Rejection {
	if len(key) > MaxIdempotencyKeyBytes {
		return reject(ingestv1.RejectReason_REJECT_REASON_TOO_LARGE, idempotencyKeyPath,
			"idempotency key: %d bytes, over the limit of %d bytes: send a shorter key, e.g. a UUID (36 bytes), or none and ingest assigns one",
			len(key), MaxIdempotencyKeyBytes)
	}
	for i, r := range key {
		switch {
		case r == utf8.RuneError && !validRuneAt(key, i):
			return reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, idempotencyKeyPath,
				"idempotency key: byte %d is not valid UTF-8: a key is printable text, e.g. a UUID", i)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return reject(ingestv1.RejectReason_REJECT_REASON_MALFORMED, idempotencyKeyPath,
				"idempotency key: byte %d is the control character %s: a key is printable text without control characters (CR, LF, NUL, tab…), e.g. a UUID",
				i, strconv.QuoteRuneToASCII(r))
		}
	}
	return nil
}

// validRuneAt reports whether s holds a valid encoding of a rune at i (the
// replacement character itself is valid).
func validRuneAt(s string, i int) bool {
	r, n := utf8.DecodeRuneInString(s[i:])
	return r != utf8.RuneError || n == 3
}

// rejectedKeyID stands for an idempotency key that was rejected: derived
// from the key (the same key gets the same id, so a retried dead letter is
// stored once), bounded and safe in a header and a reply.
func rejectedKeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "invalid-key-sha256-" + hex.EncodeToString(sum[:16])
}

// keyExcerpt is the safe part of a rejected key, kept beside its dead
// letter: its first MaxIdempotencyKeyBytes quoted in ASCII.
func keyExcerpt(key string) string { return escapeClipped(key, MaxIdempotencyKeyBytes) }
