package schema

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// lockHeader opens every lock file WriteTo writes.
const lockHeader = "# Fingerprints of published event versions. Append-only: never edit or delete a line.\n" +
	"# Add new versions with `clickstream schema lock`; `clickstream schema check` fails when a locked version changed or disappeared.\n"

// Lock is the lock file (proto/events.lock): the fingerprint of every
// published event version. One line per version,
//
//	<id> <version> <full message name> sha256:<hex>
//
// sorted by id then version; blank lines and lines starting with # are
// comments.
type Lock struct {
	Entries []LockEntry // sorted by ID, then Version
}

// LockEntry is one locked event version.
type LockEntry struct {
	ID, Version              uint32
	MessageName, Fingerprint string
}

// ParseLock reads a lock file. Errors name the line. Entries are returned
// sorted by id and version; an (id, version) or a message name locked twice is
// an error.
func ParseLock(r io.Reader) (*Lock, error) {
	lock := &Lock{}
	keyLine := map[[2]uint32]int{}
	nameLine := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseLockLine(line)
		if err != nil {
			return nil, fmt.Errorf("parse lock: line %d: %w", n, err)
		}
		key := [2]uint32{e.ID, e.Version}
		if prev, ok := keyLine[key]; ok {
			return nil, fmt.Errorf("parse lock: line %d: event %d version %d is already locked on line %d", n, e.ID, e.Version, prev)
		}
		if prev, ok := nameLine[e.MessageName]; ok {
			return nil, fmt.Errorf("parse lock: line %d: message %s is already locked on line %d", n, e.MessageName, prev)
		}
		keyLine[key], nameLine[e.MessageName] = n, n
		lock.Entries = append(lock.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse lock: line %d: %w", n+1, err)
	}
	sortEntries(lock.Entries)
	return lock, nil
}

func parseLockLine(line string) (LockEntry, error) {
	fields := strings.Fields(line)
	if len(fields) != 4 {
		return LockEntry{}, fmt.Errorf(`want "<id> <version> <full message name> sha256:<hex>", got %d fields`, len(fields))
	}
	id, err := parsePositive(fields[0])
	if err != nil {
		return LockEntry{}, fmt.Errorf("event id %q: %w", fields[0], err)
	}
	version, err := parsePositive(fields[1])
	if err != nil {
		return LockEntry{}, fmt.Errorf("version %q: %w", fields[1], err)
	}
	name := fields[2]
	if !protoreflect.FullName(name).IsValid() {
		return LockEntry{}, fmt.Errorf("message name %q is not a full protobuf name", name)
	}
	fp := fields[3]
	if !validFingerprint(fp) {
		return LockEntry{}, fmt.Errorf("fingerprint %q: want sha256: and 64 lowercase hex digits", fp)
	}
	return LockEntry{ID: id, Version: version, MessageName: name, Fingerprint: fp}, nil
}

func parsePositive(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("want a number from 1 to %d", uint32(1<<32-1))
	}
	if v == 0 {
		return 0, fmt.Errorf("want a number from 1 to %d, not 0", uint32(1<<32-1))
	}
	return uint32(v), nil
}

func validFingerprint(fp string) bool {
	hexDigits, ok := strings.CutPrefix(fp, "sha256:")
	if !ok || len(hexDigits) != 64 {
		return false
	}
	for _, c := range []byte(hexDigits) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// WriteTo writes the lock file: the header comment, then one line per entry
// sorted by id and version.
func (l *Lock) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	b.WriteString(lockHeader)
	entries := slices.Clone(l.Entries)
	sortEntries(entries)
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d %s %s\n", e.ID, e.Version, e.MessageName, e.Fingerprint)
	}
	n, err := io.WriteString(w, b.String())
	if err != nil {
		return int64(n), fmt.Errorf("write lock: %w", err)
	}
	return int64(n), nil
}

func sortEntries(entries []LockEntry) {
	slices.SortFunc(entries, func(a, b LockEntry) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version))
	})
}

// Check compares the catalogue with the lock and returns every violation,
// sorted:
//
//   - version-changed: a locked version's fingerprint (or message name)
//     differs from the lock. The lock holds only fingerprints, so Detail cannot
//     say what changed; a caller that has the published descriptor (the
//     registry) can with DiffMessages.
//   - version-deleted: a locked version is not in the catalogue.
//   - not-locked: a catalogue version is not in the lock yet.
//
// A nil lock is an empty one.
func Check(lock *Lock, events []EventVersion) []Violation {
	var entries []LockEntry
	if lock != nil {
		entries = lock.Entries
	}
	locked := map[[2]uint32]LockEntry{}
	latest := map[uint32]uint32{} // highest version of each id, locked or not
	for _, e := range entries {
		locked[[2]uint32{e.ID, e.Version}] = e
		latest[e.ID] = max(latest[e.ID], e.Version)
	}
	inCatalogue := map[[2]uint32]bool{}
	for _, ev := range events {
		inCatalogue[[2]uint32{ev.ID, ev.Version}] = true
		latest[ev.ID] = max(latest[ev.ID], ev.Version)
	}

	var vs []Violation
	for _, ev := range events {
		e, ok := locked[[2]uint32{ev.ID, ev.Version}]
		switch {
		case !ok:
			vs = append(vs, ev.violation(RuleNotLocked,
				fmt.Sprintf("%s is not in the lock", ev),
				"run `clickstream schema lock` to lock it; once published it is frozen"))
		case ev.MessageName != e.MessageName:
			vs = append(vs, ev.violation(RuleVersionChanged,
				fmt.Sprintf("%s changed: the lock has this version as %s", ev, e.MessageName),
				fmt.Sprintf("restore %s and add %sV%d instead of changing v%d", shortName(e.MessageName), ev.Name, latest[ev.ID]+1, ev.Version)))
		case ev.Fingerprint != e.Fingerprint:
			vs = append(vs, ev.violation(RuleVersionChanged,
				fmt.Sprintf("%s changed: fingerprint %s differs from the lock (%s)", ev, shortFingerprint(ev.Fingerprint), shortFingerprint(e.Fingerprint)),
				fmt.Sprintf("add %sV%d instead of changing V%d, and restore V%d as it was locked", ev.Name, latest[ev.ID]+1, ev.Version, ev.Version)))
		}
	}
	for _, e := range entries {
		if inCatalogue[[2]uint32{e.ID, e.Version}] {
			continue
		}
		vs = append(vs, Violation{
			Message: e.MessageName,
			Rule:    RuleVersionDeleted,
			Detail:  fmt.Sprintf("%s (event %d v%d) is locked but missing from the catalogue", shortName(e.MessageName), e.ID, e.Version),
			Hint:    fmt.Sprintf("versions are never deleted: restore %s, or retire it in the registry", shortName(e.MessageName)),
		})
	}
	SortViolations(vs)
	return vs
}

// Append returns a new lock with every catalogue version not yet locked added,
// sorted; existing entries are kept as they are. It refuses, returning a nil
// lock and the violations, when Check finds version-changed or version-deleted,
// or when the catalogue declares one (id, version) twice.
func Append(lock *Lock, events []EventVersion) (*Lock, []Violation) {
	var refused []Violation
	for _, v := range Check(lock, events) {
		if v.Rule == RuleVersionChanged || v.Rule == RuleVersionDeleted {
			refused = append(refused, v)
		}
	}
	first := map[[2]uint32]EventVersion{}
	for _, ev := range events {
		key := [2]uint32{ev.ID, ev.Version}
		if prev, ok := first[key]; ok {
			refused = append(refused, ev.violation(RuleVersionDuplicate,
				fmt.Sprintf("%s declares the same event id and version as %s", ev, prev.MessageName),
				"each version is declared once; fix the catalogue before locking"))
			continue
		}
		first[key] = ev
	}
	if len(refused) > 0 {
		SortViolations(refused)
		return nil, refused
	}

	out := &Lock{}
	if lock != nil {
		out.Entries = slices.Clone(lock.Entries)
	}
	locked := map[[2]uint32]bool{}
	for _, e := range out.Entries {
		locked[[2]uint32{e.ID, e.Version}] = true
	}
	for _, ev := range events {
		if !locked[[2]uint32{ev.ID, ev.Version}] {
			out.Entries = append(out.Entries, LockEntry{ID: ev.ID, Version: ev.Version, MessageName: ev.MessageName, Fingerprint: ev.Fingerprint})
		}
	}
	sortEntries(out.Entries)
	return out, nil
}

// shortFingerprint abbreviates "sha256:<64 hex>" to its first 12 hex digits.
func shortFingerprint(fp string) string {
	if len(fp) > len("sha256:")+12 {
		return fp[:len("sha256:")+12] + "…"
	}
	return fp
}
