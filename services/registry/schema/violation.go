package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Rules reported in Violation.Rule.
const (
	RuleMissingID        = "missing-id"        // the event option has no id
	RuleMissingVersion   = "missing-version"   // the event option has no version
	RuleNameSuffix       = "name-suffix"       // the message name does not end in V<version>
	RuleIDNameConflict   = "id-name-conflict"  // one id, two event names
	RuleVersionGap       = "version-gap"       // versions of an id are not 1, 2, 3 … without gaps
	RuleVersionDuplicate = "version-duplicate" // two messages declare the same id and version
	RulePIIType          = "pii-type"          // pii on a message, map or group field
	RuleVersionChanged   = "version-changed"   // a locked version's fingerprint differs from the lock
	RuleVersionDeleted   = "version-deleted"   // a locked version is missing from the catalogue
	RuleNotLocked        = "not-locked"        // a catalogue version is not in the lock yet
)

// Violation is one breach of the catalogue rules, with where it is, what is
// wrong and what to do about it.
type Violation struct {
	File    string // proto path, empty when the violation has no place in a file
	Line    int    // 1-based, 0 if unknown
	Message string // full message name, may be empty
	Field   string // field name, may be empty
	Rule    string // short rule id, one of the Rule* constants
	Detail  string // what is wrong, naming the event
	Hint    string // what to do
}

// Error formats v on one line:
//
//	file:line: message.field: detail [rule] — hint
//
// leaving out the parts that are empty.
func (v Violation) Error() string {
	var b strings.Builder
	if v.File != "" {
		b.WriteString(v.File)
		if v.Line > 0 {
			fmt.Fprintf(&b, ":%d", v.Line)
		}
		b.WriteString(": ")
	}
	switch {
	case v.Message != "" && v.Field != "":
		fmt.Fprintf(&b, "%s.%s: ", v.Message, v.Field)
	case v.Message != "":
		fmt.Fprintf(&b, "%s: ", v.Message)
	case v.Field != "":
		fmt.Fprintf(&b, "%s: ", v.Field)
	}
	b.WriteString(v.Detail)
	if v.Rule != "" {
		fmt.Fprintf(&b, " [%s]", v.Rule)
	}
	if v.Hint != "" {
		fmt.Fprintf(&b, " — %s", v.Hint)
	}
	return b.String()
}

// SortViolations sorts vs by file, line, message, field, rule and detail, so
// violations from Set.Events and Check can be merged and printed in a stable
// order.
func SortViolations(vs []Violation) {
	slices.SortStableFunc(vs, compareViolations)
}

func compareViolations(a, b Violation) int {
	return cmp.Or(
		strings.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		strings.Compare(a.Message, b.Message),
		strings.Compare(a.Field, b.Field),
		strings.Compare(a.Rule, b.Rule),
		strings.Compare(a.Detail, b.Detail),
	)
}
