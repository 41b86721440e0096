package ingest

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The admin API checks its inputs before they reach PostgreSQL or a NATS
// subject, so a malformed one (a NUL, invalid UTF-8, a megabyte) is a 400
// that names the parameter, never a 5xx from the store.

// environmentName is the registry's rule for environment names; an
// environment ingest knows (from a key) always keeps it.
var environmentName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// checkEnvironmentParam says what is wrong with an environment named in
// parameter param, if anything. Empty is for the callers to judge.
func checkEnvironmentParam(param, env string) error {
	if env == "" || environmentName.MatchString(env) {
		return nil
	}
	return fmt.Errorf("%s %s is not an environment name: use 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit, e.g. \"web\"",
		param, quote(env))
}

// keyIDPattern is the form of an API key id NewKeySecret makes.
var keyIDPattern = regexp.MustCompile(`^ck_[0-9A-Za-z]{1,64}$`)

// checkKeyID says what is wrong with a key id, if anything.
func checkKeyID(id string) error {
	if keyIDPattern.MatchString(id) {
		return nil
	}
	return fmt.Errorf("key_id %s is not an API key id: ids look like ck_5f0c2a9d81be (see clickstream keys list)", quote(id))
}

// Bounds of free text the admin API stores.
const (
	maxDescriptionBytes = 1024
	maxActorBytes       = 256
)

// checkText says what is wrong with free text in parameter param, if
// anything: at most limit bytes of valid UTF-8 without control characters
// (newlines and tabs too when oneLine is false are fine).
func checkText(param, s string, limit int, oneLine bool) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes; the limit is %d", param, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", param)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && (oneLine || (r != '\n' && r != '\t'))
	}); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("%s has the control character %q at byte %d; send plain text%s", param, r, i, map[bool]string{true: " on one line", false: ""}[oneLine])
	}
	return nil
}

// checkActor says what is wrong with an actor, if anything: it is audited
// and may travel in a header, so it is short text on one line.
func checkActor(actor string) error {
	return checkText("actor", actor, maxActorBytes, true)
}
