package bus

import (
	"fmt"
	"strings"
	"unicode"
)

// EventSubject returns the subject an event version travels on: "events.<env>.<event>.v<N>",
// where event is eventName in snake_case ("PhotoStatusChanged" -> "photo_status_changed").
// env must be a valid subject token and eventName a Go/protobuf style identifier;
// versions start at 1.
func EventSubject(env, eventName string, version uint32) (string, error) {
	if err := checkToken(env); err != nil {
		return "", fmt.Errorf("event subject: environment %q %w", env, err)
	}
	if version == 0 {
		return "", fmt.Errorf("event subject: event %q version 0 is not valid; versions start at 1", eventName)
	}
	event, err := snakeCase(eventName)
	if err != nil {
		return "", fmt.Errorf("event subject: event name %q %w", eventName, err)
	}
	return fmt.Sprintf("events.%s.%s.v%d", env, event, version), nil
}

// checkToken reports why s cannot be one token of a NATS subject.
func checkToken(s string) error {
	if s == "" {
		return fmt.Errorf("is empty; it must be one subject token")
	}
	for _, r := range s {
		switch {
		case r == '.':
			return fmt.Errorf("contains '.'; it must be one subject token")
		case r == '*' || r == '>':
			return fmt.Errorf("contains the wildcard %q; it must be a literal subject token", r)
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return fmt.Errorf("contains whitespace or a control character %q; it must be one subject token", r)
		case r == unicode.ReplacementChar:
			return fmt.Errorf("is not valid UTF-8")
		}
	}
	return nil
}

// snakeCase converts an identifier such as "PhotoStatusChanged" or "HTTPRequestSent" to
// "photo_status_changed" / "http_request_sent". Names already in snake_case are kept.
func snakeCase(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("is empty")
	}
	runes := []rune(name)
	var sb strings.Builder
	sb.Grow(len(name) + 4)
	for i, r := range runes {
		isUpper := r >= 'A' && r <= 'Z'
		isLower := r >= 'a' && r <= 'z'
		isDigit := r >= '0' && r <= '9'
		if !isUpper && !isLower && !isDigit && r != '_' {
			return "", fmt.Errorf("contains %q; use letters, digits and '_' only", r)
		}
		if isUpper && i > 0 {
			prev := runes[i-1]
			prevLowerOrDigit := (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')
			nextLower := i+1 < len(runes) && runes[i+1] >= 'a' && runes[i+1] <= 'z'
			prevUpper := prev >= 'A' && prev <= 'Z'
			// "photoStatus" -> "photo_status"; "HTTPRequest" -> "http_request".
			if prevLowerOrDigit || (prevUpper && nextLower) {
				sb.WriteByte('_')
			}
		}
		if isUpper {
			r += 'a' - 'A'
		}
		sb.WriteRune(r)
	}
	return sb.String(), nil
}

// EventFilterSubject is the subject filter matching every environment and
// version of an event, e.g. "events.*.photo_status_changed.*" for
// "PhotoStatusChanged": what a consumer of that event subscribes to.
func EventFilterSubject(eventName string) (string, error) {
	event, err := snakeCase(eventName)
	if err != nil {
		return "", fmt.Errorf("event filter subject: event name %q %w", eventName, err)
	}
	return "events.*." + event + ".*", nil
}
