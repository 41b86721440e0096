package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// RuleRequiredTightened: a registered version's field became required.
const RuleRequiredTightened = "required-tightened"

// DocChange is one change to the documentation of an event version that
// leaves its fingerprint alone: governance metadata (descriptions, pii,
// required, examples) and comments.
type DocChange struct {
	// Field is the path of the field from the event message, e.g.
	// "context.user_id"; empty for the event itself.
	Field string `json:"field,omitempty"`
	// What changed: "description", "pii", "required" or "example".
	What   string `json:"what"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Tightens reports whether the change makes an optional field required:
// senders that omit the field would start being rejected.
func (c DocChange) Tightens() bool {
	return c.What == "required" && c.Before == "false" && c.After == "true"
}

// String reads "context.user_id: required false → true".
func (c DocChange) String() string {
	where := c.Field
	if where == "" {
		where = "the event"
	}
	return fmt.Sprintf("%s: %s %s → %s", where, c.What, strconv.Quote(c.Before), strconv.Quote(c.After))
}

// DocChanges lists how the documentation of an event version differs
// between old and updated, two descriptors of one message with the same
// fingerprint: the event description, and the description, example, pii
// and required of every field it reaches (fields of referenced messages
// by their path). A description is the option's or, without one, the
// leading comment, as the documentation shows it. Sorted by field path.
func DocChanges(old, updated protoreflect.MessageDescriptor) []DocChange {
	var changes []DocChange
	add := func(field, what, before, after string) {
		if before != after {
			changes = append(changes, DocChange{Field: field, What: what, Before: before, After: after})
		}
	}
	add("", "description", messageDescription(old), messageDescription(updated))
	var walk func(prefix string, o, n protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool)
	walk = func(prefix string, o, n protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
		if seen[n.FullName()] {
			return
		}
		seen[n.FullName()] = true
		defer delete(seen, n.FullName())
		fields := n.Fields()
		for i := range fields.Len() {
			nf := fields.Get(i)
			of := o.Fields().ByNumber(nf.Number())
			if of == nil {
				continue // not the same shape; the fingerprint tells
			}
			path := prefix + string(nf.Name())
			oo, no := fieldOption(of), fieldOption(nf)
			add(path, "description", fieldDescription(of, oo.GetDescription()), fieldDescription(nf, no.GetDescription()))
			add(path, "example", oo.GetExample(), no.GetExample())
			add(path, "pii", strconv.FormatBool(oo.GetPii()), strconv.FormatBool(no.GetPii()))
			add(path, "required", strconv.FormatBool(oo.GetRequired()), strconv.FormatBool(no.GetRequired()))
			if om, nm := of.Message(), nf.Message(); om != nil && nm != nil {
				walk(path+".", om, nm, seen)
			}
		}
	}
	walk("", old, updated, map[protoreflect.FullName]bool{})
	slices.SortStableFunc(changes, func(a, b DocChange) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.What, b.What))
	})
	return changes
}

// messageDescription is the event option's description or, without one,
// the message's leading comment.
func messageDescription(md protoreflect.MessageDescriptor) string {
	if d := strings.TrimSpace(eventOption(md).GetDescription()); d != "" {
		return d
	}
	return strings.TrimSpace(md.ParentFile().SourceLocations().ByDescriptor(md).LeadingComments)
}

// fieldDescription is option, trimmed, or else the field's leading comment.
func fieldDescription(fd protoreflect.FieldDescriptor, option string) string {
	if d := strings.TrimSpace(option); d != "" {
		return d
	}
	return strings.TrimSpace(fd.ParentFile().SourceLocations().ByDescriptor(fd).LeadingComments)
}
