package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// EventVersion is one version of an event: a message carrying the
// (clickstream.options.v1.event) option.
type EventVersion struct {
	ID          uint32
	Version     uint32
	Name        string // event name without the version suffix: "PhotoStatusChanged"
	MessageName string // full name: "clickstream.events.v1.PhotoStatusChangedV2"
	Description string
	Fingerprint string // "sha256:<hex>", see Fingerprint
	File        string // proto path, e.g. "clickstream/events/v1/photo_status_changed.proto"
	Line        int    // 1-based line of the message declaration (0 if unknown)
	Descriptor  protoreflect.MessageDescriptor
}

// String names the version the way violations do: "PhotoStatusChangedV2 (event 2001 v2)".
func (e EventVersion) String() string {
	return fmt.Sprintf("%s (event %d v%d)", shortName(e.MessageName), e.ID, e.Version)
}

// Events returns every message of the set's files that carries the
// (clickstream.options.v1.event) option, sorted by (ID, Version), and the
// violations of the catalogue's shape:
//
//   - missing-id, missing-version: the option has no id or no version (such
//     messages are not returned as events: they have no key);
//   - name-suffix: the message name does not end in V<version>;
//   - id-name-conflict: versions of one id carry different event names;
//   - version-gap, version-duplicate: the versions of an id are not 1, 2, 3 …
//     each exactly once;
//   - pii-type: the pii field option on a message, map or group field (checked
//     on every message, not only on events).
func (s *Set) Events() ([]EventVersion, []Violation) {
	var events []EventVersion
	var vs []Violation
	for _, fd := range s.Files {
		forEachMessage(fd.Messages(), func(md protoreflect.MessageDescriptor) {
			vs = append(vs, checkPII(md)...)
			opt := eventOption(md)
			if opt == nil {
				return
			}
			ev := EventVersion{
				ID:          opt.GetId(),
				Version:     opt.GetVersion(),
				Name:        eventName(string(md.Name())),
				MessageName: string(md.FullName()),
				Description: opt.GetDescription(),
				Fingerprint: Fingerprint(md),
				File:        fd.Path(),
				Line:        lineOf(md),
				Descriptor:  md,
			}
			if ev.ID == 0 {
				vs = append(vs, ev.violation(RuleMissingID,
					fmt.Sprintf("%s has the event option without an id", md.Name()),
					"set a stable numeric id in option (clickstream.options.v1.event), the same for every version of the event"))
			}
			if ev.Version == 0 {
				vs = append(vs, ev.violation(RuleMissingVersion,
					fmt.Sprintf("%s has the event option without a version", md.Name()),
					"set version in option (clickstream.options.v1.event): 1 for a new event, the next number for a new version"))
			}
			if ev.ID == 0 || ev.Version == 0 {
				return
			}
			if !hasVersionSuffix(string(md.Name()), ev.Version) {
				vs = append(vs, ev.violation(RuleNameSuffix,
					fmt.Sprintf("%s: the message name must end in V%d", ev, ev.Version),
					fmt.Sprintf("name the message %sV%d, or fix the version in its event option", ev.Name, ev.Version)))
			}
			events = append(events, ev)
		})
	}
	slices.SortStableFunc(events, func(a, b EventVersion) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version),
			strings.Compare(a.MessageName, b.MessageName))
	})
	vs = append(vs, checkVersions(events)...)
	SortViolations(vs)
	return events, vs
}

// checkVersions checks each id's versions (events sorted by id and version):
// one event name, versions 1, 2, 3 … each exactly once.
func checkVersions(events []EventVersion) []Violation {
	var vs []Violation
	for i := 0; i < len(events); {
		j := i
		for j < len(events) && events[j].ID == events[i].ID {
			j++
		}
		group := events[i:j]
		i = j

		// The event's name is the one its lowest well-named version carries.
		var first *EventVersion
		for k := range group {
			if hasVersionSuffix(shortName(group[k].MessageName), group[k].Version) {
				first = &group[k]
				break
			}
		}
		want := uint32(1)
		for k, ev := range group {
			switch {
			case k > 0 && ev.Version == group[k-1].Version:
				prev := group[k-1]
				vs = append(vs, ev.violation(RuleVersionDuplicate,
					fmt.Sprintf("%s declares the same event id and version as %s (%s:%d)", ev, prev.MessageName, prev.File, prev.Line),
					fmt.Sprintf("each version is declared once; give this one version %d", group[len(group)-1].Version+1)))
			case ev.Version != want:
				vs = append(vs, ev.violation(RuleVersionGap,
					fmt.Sprintf("%s: %s missing; the versions of event %d go 1, 2, 3 … without gaps", ev, missingVersions(want, ev.Version), ev.ID),
					fmt.Sprintf("number this version %d (%sV%d)", want, ev.Name, want)))
				want = ev.Version + 1
			default:
				want = ev.Version + 1
			}
			if first != nil && hasVersionSuffix(shortName(ev.MessageName), ev.Version) && qualifiedEventName(ev) != qualifiedEventName(*first) {
				hint := fmt.Sprintf("give %s a new id of its own, or name it %sV%d if it is a version of %s", ev.Name, first.Name, ev.Version, first.Name)
				if ev.Name == first.Name {
					hint = fmt.Sprintf("declare every version of %s in the same scope as %s", ev.Name, first.MessageName)
				}
				vs = append(vs, ev.violation(RuleIDNameConflict,
					fmt.Sprintf("%s: event id %d already belongs to event %s (%s)", ev, ev.ID, first.Name, first.MessageName), hint))
			}
		}
	}
	return vs
}

func missingVersions(from, to uint32) string {
	if to-from == 1 {
		return fmt.Sprintf("version %d is", from)
	}
	return fmt.Sprintf("versions %d–%d are", from, to-1)
}

// checkPII reports the pii field option on fields that are not scalars,
// strings or bytes: ingest hashes values, which it cannot do to a message.
func checkPII(md protoreflect.MessageDescriptor) []Violation {
	if md.IsMapEntry() {
		return nil
	}
	var vs []Violation
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		opt := fieldOption(f)
		if !opt.GetPii() {
			continue
		}
		what, hint := "", "remove pii from this field and mark the personal fields of its message instead"
		switch {
		case f.IsMap():
			what, hint = "a map", "remove pii from this field; put personal data in scalar or string fields marked pii"
		case f.Kind() == protoreflect.GroupKind:
			what = "a group"
		case f.Kind() == protoreflect.MessageKind:
			what = "message " + string(f.Message().FullName())
		default:
			continue
		}
		vs = append(vs, Violation{
			File:    md.ParentFile().Path(),
			Line:    lineOf(f),
			Message: string(md.FullName()),
			Field:   string(f.Name()),
			Rule:    RulePIIType,
			Detail: fmt.Sprintf("%s: field %d %q is marked pii but is %s; pii is only for scalar, string and bytes fields",
				describeMessage(md), f.Number(), f.Name(), what),
			Hint: hint,
		})
	}
	return vs
}

func (e EventVersion) violation(rule, detail, hint string) Violation {
	return Violation{File: e.File, Line: e.Line, Message: e.MessageName, Rule: rule, Detail: detail, Hint: hint}
}

// describeMessage names md for a violation: "PhotoStatusChangedV2 (event 2001
// v2)" for an event version, "message Bid" otherwise.
func describeMessage(md protoreflect.MessageDescriptor) string {
	if opt := eventOption(md); opt != nil {
		return fmt.Sprintf("%s (event %d v%d)", md.Name(), opt.GetId(), opt.GetVersion())
	}
	return "message " + string(md.Name())
}

// forEachMessage calls f for every message in mds and, depth first, for the
// messages nested in them.
func forEachMessage(mds protoreflect.MessageDescriptors, f func(protoreflect.MessageDescriptor)) {
	for i := range mds.Len() {
		md := mds.Get(i)
		f(md)
		forEachMessage(md.Messages(), f)
	}
}

// lineOf returns the 1-based line where d is declared, 0 if the file has no
// source info for it.
func lineOf(d protoreflect.Descriptor) int {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if len(loc.Path) == 0 {
		return 0
	}
	return loc.StartLine + 1
}

// hasVersionSuffix reports whether name is <Event>V<version> with a non-empty <Event>.
func hasVersionSuffix(name string, version uint32) bool {
	suffix := "V" + strconv.FormatUint(uint64(version), 10)
	return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
}

// eventName strips a trailing V<digits> from a message name: "PhotoStatusChangedV2" → "PhotoStatusChanged".
func eventName(name string) string {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i < len(name) && i > 1 && name[i-1] == 'V' {
		return name[:i-1]
	}
	return name
}

// qualifiedEventName is the event name with the message's parent scope, so
// that one id used in two packages is a conflict too.
func qualifiedEventName(e EventVersion) string {
	scope := e.MessageName[:len(e.MessageName)-len(shortName(e.MessageName))]
	return scope + e.Name
}

// shortName returns the last component of a full name.
func shortName(fullName string) string {
	return fullName[strings.LastIndexByte(fullName, '.')+1:]
}
