package awards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of the text awards accepts from outside.
const (
	// maxIdentifier bounds user ids, achievement ids, objective keys,
	// sources and actors, in bytes (the bound of a token's user id).
	maxIdentifier = maxSubject
	// maxTitle bounds an achievement's title and image URL, in bytes.
	maxTitle = 1024
	// maxDescription bounds an achievement's description, in bytes.
	maxDescription = 16 << 10
)

// identifierProblem says what is wrong with an identifier from outside
// (a user id, an achievement id, an actor): what textProblem refuses with
// no control character allowed (NUL included, which PostgreSQL text cannot
// hold) and maxIdentifier bytes, or "." or "..". "" when it is acceptable;
// emptiness is the caller's to check.
func identifierProblem(value string) string {
	if value == "." || value == ".." {
		// A URL path cannot carry them: clients and servers resolve them.
		return fmt.Sprintf("is %q, a path segment, not an id", value)
	}
	return textProblem(value, maxIdentifier, false)
}

// textProblem says what is wrong with text from outside: not valid UTF-8,
// longer than max bytes, or a control character (other than tab and line
// breaks when prose, as in a title or a description); "" when it is
// acceptable.
func textProblem(value string, max int, prose bool) string {
	switch {
	case !utf8.ValidString(value):
		return "is not valid UTF-8"
	case len(value) > max:
		return fmt.Sprintf("has %d bytes; at most %d are accepted", len(value), max)
	}
	i := strings.IndexFunc(value, func(r rune) bool {
		return unicode.IsControl(r) && !(prose && (r == '\t' || r == '\n' || r == '\r'))
	})
	if i >= 0 {
		return fmt.Sprintf("holds the control character %U at byte %d", []rune(value[i:])[0], i)
	}
	return ""
}

// jsonProblem says what in a JSON configuration PostgreSQL's jsonb cannot
// store: invalid UTF-8, or a NUL character (\u0000) in a string or key;
// "" when there is nothing. Invalid JSON is left to the configuration's
// own decoder, which says more.
func jsonProblem(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return "" // the only way JSON writes NUL
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return ""
	}
	if hasNUL(v) {
		return `holds a NUL character (\u0000) in a string`
	}
	return ""
}

func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// configTextProblems lists what in c's text PostgreSQL could not store or
// the bounds refuse, each naming the setting.
func configTextProblems(c AchievementConfig) []error {
	var errs []error
	for _, f := range []struct {
		name, value string
		max         int
	}{{"title", c.Title, maxTitle}, {"description", c.Description, maxDescription}, {"image_url", c.ImageURL, maxTitle}} {
		if p := textProblem(f.value, f.max, true); p != "" {
			errs = append(errs, fmt.Errorf("%s %s", f.name, p))
		}
	}
	if p := jsonProblem(c.Strategy); p != "" {
		errs = append(errs, fmt.Errorf("strategy %s", p))
	}
	for i, o := range c.Objectives {
		where := fmt.Sprintf("objective %d", i)
		if p := identifierProblem(o.Key); p == "" && o.Key != "" {
			where = fmt.Sprintf("objective %q", o.Key)
		}
		if p := jsonProblem(o.Filters); p != "" {
			errs = append(errs, fmt.Errorf("%s: filters %s", where, p))
		}
		if p := jsonProblem(o.Rule); p != "" {
			errs = append(errs, fmt.Errorf("%s: rule %s", where, p))
		}
	}
	return errs
}
