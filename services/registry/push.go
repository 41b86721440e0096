package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// PushSchemas implements RegistryAdminService.PushSchemas.
func (a *AdminService) PushSchemas(ctx context.Context, req *registryv1.PushSchemasRequest) (*registryv1.PushSchemasResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	author := strings.TrimSpace(req.GetAuthor())
	if author == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New(
			`author is required: say who pushes, e.g. "ci@payments" or your handle (clickstream schema push --author)`))
	}
	fds := req.GetFileDescriptorSet()
	if len(fds.GetFile()) == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New(
			"file_descriptor_set is required: push the compiled catalogue, e.g. with `clickstream schema push proto`"))
	}
	set, err := schema.NewSet(fds)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(
			"file_descriptor_set: %w; push every file with all of its imports, as `clickstream schema push` does", err))
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(fds)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("file_descriptor_set: %w", err))
	}
	res, err := pushSchemas(ctx, a.store, pushRequest{
		set:           set,
		descriptorSet: data,
		author:        author,
		message:       strings.TrimSpace(req.GetMessage()),
		dryRun:        req.GetDryRun(),
	})
	if err != nil {
		return nil, pushError(err)
	}
	return &registryv1.PushSchemasResponse{
		Revision:   res.Revision,
		Added:      res.Added,
		Unchanged:  int32(res.Unchanged),
		DryRun:     req.GetDryRun(),
		Documented: res.Documented,
	}, nil
}

// pushError maps an error of pushSchemas to a Connect error: a rejected
// push carries a PushRejection detail with every violation.
func pushError(err error) error {
	var (
		rejected *RejectedError
		conflict *ConflictError
	)
	switch {
	case errors.As(err, &rejected):
		cerr := connect.NewError(connect.CodeInvalidArgument, rejected)
		detail := &registryv1.PushRejection{}
		for _, v := range rejected.Violations {
			detail.Violations = append(detail.Violations, &registryv1.Violation{
				File:    v.File,
				Line:    int32(v.Line),
				Message: v.Message,
				Field:   v.Field,
				Rule:    v.Rule,
				Detail:  v.Detail,
				Hint:    v.Hint,
			})
		}
		if d, derr := connect.NewErrorDetail(detail); derr == nil {
			cerr.AddDetail(d)
		}
		return cerr
	case errors.Is(err, errNoEvents):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrCatalogueMoved):
		return connect.NewError(connect.CodeAborted, fmt.Errorf("%w; other pushes kept landing while this one was checked: push again", err))
	case errors.As(err, &conflict):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return catalogueError(err)
}

// errNoEvents refuses a push without a single event message.
var errNoEvents = errors.New("the pushed files declare no event message (a message with option (clickstream.options.v1.event)); " +
	"push the root of the catalogue, e.g. `clickstream schema push proto`")

// RejectedError is a push that breaks the version rules. Nothing of it is
// stored.
type RejectedError struct {
	// Violations are sorted by file and line.
	Violations []schema.Violation
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "push rejected, nothing stored: %d violation(s)", len(e.Violations))
	for _, v := range e.Violations {
		b.WriteString("\n  ")
		b.WriteString(v.Error())
	}
	return b.String()
}

// pushRequest is a compiled schema set to check and store.
type pushRequest struct {
	set *schema.Set
	// descriptorSet is the serialized set, as it is stored.
	descriptorSet   []byte
	author, message string
	// dryRun checks only.
	dryRun bool
	// behindIsFine accepts a set that lacks registered versions when it
	// adds none: the registry is ahead of it and nothing is stored. The
	// catalogue a registry registers at start may be older than pushes it
	// received since.
	behindIsFine bool
}

// PushResult says what a push did, or would do in a dry run.
type PushResult struct {
	// Revision is the catalogue revision after the push; the current one
	// when nothing was new or in a dry run.
	Revision uint64
	// Added lists the versions the push registers ("ItemViewV2").
	Added []string
	// Unchanged counts the versions already registered with the pushed
	// shape (documented ones included).
	Unchanged int
	// Documented lists the registered versions whose documentation the
	// push changes ("ItemViewV1"): a new documentation revision of each.
	Documented []string
}

// pushAttempts bounds how often a push is checked again because another
// one landed while it was being checked.
const pushAttempts = 5

// pushSchemas checks a push against the registered catalogue and, unless
// it is a dry run or adds nothing, stores it as a new revision. A push that
// breaks a rule fails with a *RejectedError listing every violation.
func pushSchemas(ctx context.Context, store Store, req pushRequest) (PushResult, error) {
	events, shape := req.set.Events()
	if len(events) == 0 && len(shape) == 0 {
		return PushResult{}, errNoEvents
	}
	for attempt := 1; ; attempt++ {
		registered, revs, err := store.Catalogue(ctx)
		if err != nil {
			return PushResult{}, err
		}
		plan, err := planPush(ctx, store, events, shape, registered, revs)
		if err != nil {
			return PushResult{}, err
		}
		res := PushResult{Revision: revs.Current, Unchanged: plan.unchanged}
		if req.behindIsFine && len(plan.added) == 0 && plan.onlyBehind() {
			// The set may be older than the pushes since: it stores
			// nothing, and its documentation is not newer for differing,
			// so it is not compared.
			return res, nil
		}
		descriptors := registeredDescriptors{store: store, push: revs.Push}
		if err := plan.compareDocs(ctx, descriptors); err != nil {
			return PushResult{}, err
		}
		if len(plan.violations) > 0 {
			return PushResult{}, &RejectedError{Violations: plan.violations}
		}
		for _, ev := range plan.added {
			res.Added = append(res.Added, shortName(ev.MessageName))
		}
		for _, d := range plan.documented {
			res.Documented = append(res.Documented, shortName(d.MessageName))
		}
		if req.dryRun || (len(plan.added) == 0 && len(plan.documented) == 0) {
			return res, nil
		}
		reg := Registration{Author: req.author, Message: req.message, DescriptorSet: req.descriptorSet, Base: revs.Push, Documented: plan.documented}
		for _, ev := range plan.added {
			reg.Versions = append(reg.Versions, NewVersion{
				EventID:     ev.ID,
				Version:     ev.Version,
				EventName:   ev.Name,
				MessageName: ev.MessageName,
				Description: strings.TrimSpace(ev.Description),
				Fingerprint: ev.Fingerprint,
			})
		}
		stored, err := store.Register(ctx, reg)
		if errors.Is(err, ErrCatalogueMoved) && attempt < pushAttempts {
			continue // another push landed: check against it
		}
		if err != nil {
			return PushResult{}, err
		}
		res.Revision, res.Added, res.Documented = stored.Revision, stored.Added, stored.Documented
		return res, nil
	}
}

// pushPlan is what a push would do to the catalogue.
type pushPlan struct {
	// added are the versions to register, unless there are violations.
	added []schema.EventVersion
	// documented are registered versions, shape unchanged, whose
	// documentation changes.
	documented []DocumentedVersion
	unchanged  int
	violations []schema.Violation
	// same are the registered versions pushed with their shape, whose
	// documentation compareDocs compares.
	same []sameVersion
}

// sameVersion is a registered version pushed with its registered shape.
type sameVersion struct {
	pushed     schema.EventVersion
	event      Event
	registered EventVersion
	next       uint32 // the version number a changed version would take
}

// onlyBehind reports whether every violation is what a set older than the
// catalogue shows: versions missing, or fields required since.
func (p pushPlan) onlyBehind() bool {
	for _, v := range p.violations {
		if v.Rule != schema.RuleVersionDeleted && v.Rule != schema.RuleRequiredTightened {
			return false
		}
	}
	return true
}

// planPush checks the pushed events (with the violations of their own
// shape) against the registered catalogue:
//
//   - version-changed: a registered version with another fingerprint or
//     message name, with the field-level changes;
//   - version-deleted: a registered version missing from the push;
//   - id-name-conflict: a new version whose id is registered under another
//     event name, or whose event name is registered under another id.
//
// The registered versions pushed with their shape unchanged are kept in
// same: compareDocs adds what their documentation changes (a field made
// required is a required-tightened violation; descriptions, pii and
// loosened required document the version, stored as a new documentation
// revision of it).
//
// New versions are last+1 of their event when the push passes: the push's
// versions of each id go 1, 2, 3 … (Set.Events checks that) and hold every
// registered version.
func planPush(ctx context.Context, store Store, events []schema.EventVersion, shape []schema.Violation, registered []Event, revs Revisions) (pushPlan, error) {
	plan := pushPlan{violations: slices.Clone(shape)}
	reported := map[[2]string]bool{} // message, rule
	for _, v := range shape {
		reported[[2]string{v.Message, v.Rule}] = true
	}
	pushed := make(map[versionKey]schema.EventVersion, len(events))
	highest := map[uint32]uint32{} // highest version of each id, registered or pushed
	for _, ev := range events {
		pushed[versionKey{ev.ID, ev.Version}] = ev
		highest[ev.ID] = max(highest[ev.ID], ev.Version)
	}
	names := map[uint32]string{}
	ids := map[string]uint32{}
	known := map[versionKey]bool{}
	for _, e := range registered {
		names[e.ID], ids[e.Name] = e.Name, e.ID
		for _, v := range e.Versions {
			known[versionKey{v.EventID, v.Version}] = true
			highest[e.ID] = max(highest[e.ID], v.Version)
		}
	}

	descriptors := registeredDescriptors{store: store, push: revs.Push}
	for _, e := range registered {
		for _, v := range e.Versions {
			ev, ok := pushed[versionKey{v.EventID, v.Version}]
			if ok && ev.Fingerprint == v.Fingerprint && ev.MessageName == v.MessageName {
				plan.unchanged++
				plan.same = append(plan.same, sameVersion{pushed: ev, event: e, registered: v, next: highest[e.ID] + 1})
				continue
			}
			old, err := descriptors.message(ctx, v)
			if err != nil {
				return pushPlan{}, err
			}
			if ok {
				plan.violations = append(plan.violations, changedViolation(ev, e, v, old, highest[e.ID]+1))
			} else {
				plan.violations = append(plan.violations, deletedViolation(v, old))
			}
		}
	}

	for _, ev := range events {
		if known[versionKey{ev.ID, ev.Version}] {
			continue
		}
		v := schema.Violation{File: ev.File, Line: ev.Line, Message: ev.MessageName, Rule: schema.RuleIDNameConflict}
		if name, ok := names[ev.ID]; ok && name != ev.Name {
			v.Detail = fmt.Sprintf("%s: event id %d is registered as event %s", ev, ev.ID, name)
			v.Hint = fmt.Sprintf("name it %sV%d if it is a version of %s, or give %s a new id of its own", name, ev.Version, name, ev.Name)
		} else if id, ok := ids[ev.Name]; ok && id != ev.ID {
			v.Detail = fmt.Sprintf("%s: event %s is registered with id %d", ev, ev.Name, id)
			v.Hint = fmt.Sprintf("use id %d for every version of %s, or give the event another name", id, ev.Name)
		} else {
			plan.added = append(plan.added, ev)
			continue
		}
		if !reported[[2]string{v.Message, v.Rule}] {
			plan.violations = append(plan.violations, v)
		}
	}
	schema.SortViolations(plan.violations)
	return plan, nil
}

// compareDocs compares the documentation of the versions pushed with
// their registered shape: a field made required is a required-tightened
// violation, any other difference documents the version.
func (p *pushPlan) compareDocs(ctx context.Context, descriptors registeredDescriptors) error {
	n := len(p.violations)
	for _, s := range p.same {
		old, err := descriptors.message(ctx, s.registered)
		if err != nil {
			return err
		}
		if old == nil {
			continue
		}
		v := s.registered
		changes := schema.DocChanges(old, s.pushed.Descriptor)
		if tightened := tightenedViolations(s.pushed, s.event, changes, s.next); len(tightened) > 0 {
			p.violations = append(p.violations, tightened...)
		} else if len(changes) > 0 {
			p.documented = append(p.documented, DocumentedVersion{
				EventID:     v.EventID,
				Version:     v.Version,
				MessageName: v.MessageName,
				Description: strings.TrimSpace(s.pushed.Description),
				Changes:     changes,
			})
		}
	}
	if len(p.violations) > n {
		schema.SortViolations(p.violations)
	}
	return nil
}

// tightenedViolations reports each field of a registered version that the
// push makes required: senders that omit it would start being rejected.
func tightenedViolations(ev schema.EventVersion, e Event, changes []schema.DocChange, next uint32) []schema.Violation {
	var vs []schema.Violation
	for _, c := range changes {
		if !c.Tightens() {
			continue
		}
		vi := schema.Violation{File: ev.File, Line: ev.Line, Message: ev.MessageName, Field: c.Field, Rule: schema.RuleRequiredTightened}
		if fd := fieldByPath(ev.Descriptor, c.Field); fd != nil {
			if line := declLine(fd); line > 0 {
				vi.File, vi.Line = fd.ParentFile().Path(), line
			}
		}
		vi.Detail = fmt.Sprintf("%s: field %s becomes required, but it is optional as registered: "+
			"senders of %s that omit it would start being rejected, so a registered version cannot require more",
			ev, c.Field, shortName(ev.MessageName))
		vi.Hint = fmt.Sprintf("leave %s optional in %s and add %sV%d with the field required; "+
			"descriptions, pii and loosening required may change in place", c.Field, shortName(ev.MessageName), e.Name, next)
		vs = append(vs, vi)
	}
	return vs
}

// fieldByPath finds a field by its path from md ("context.user_id"); nil
// when there is none.
func fieldByPath(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for name := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil
		}
		fd = md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil
		}
		md = fd.Message()
	}
	return fd
}

// changedViolation reports a registered version the push changed. old is
// its registered descriptor, nil when unknown.
func changedViolation(ev schema.EventVersion, e Event, v EventVersion, old protoreflect.MessageDescriptor, next uint32) schema.Violation {
	vi := schema.Violation{File: ev.File, Line: ev.Line, Message: ev.MessageName, Rule: schema.RuleVersionChanged}
	vi.Hint = fmt.Sprintf("restore %s as registered and add %sV%d instead of changing V%d",
		shortName(v.MessageName), e.Name, next, v.Version)
	changes := []string{fmt.Sprintf("its fingerprint %s differs from the registered %s", ev.Fingerprint, v.Fingerprint)}
	if old != nil {
		changes = schema.DiffMessages(old, ev.Descriptor)
		if name, line := changedField(old, ev.Descriptor); name != "" {
			vi.Field = name
			if line > 0 {
				vi.Line = line
			}
		}
		if types := changedTypes(changes); len(types) > 0 {
			vi.Hint = fmt.Sprintf("restore %s as registered: registered versions use it; declare a new type for new versions instead of changing it",
				strings.Join(types, " and "))
		}
	}
	vi.Detail = fmt.Sprintf("%s is registered (revision %d) and frozen, but changed: %s", ev, v.Revision, strings.Join(changes, "; "))
	return vi
}

// changedTypes returns the types a version references that changed, when
// all of its changes are in them ("clickstream.events.v1.Context: field 9
// …" from DiffMessages); nil when the version itself changed.
func changedTypes(changes []string) []string {
	var types []string
	for _, c := range changes {
		name, _, ok := strings.Cut(c, ": ")
		if !ok || !protoreflect.FullName(name).IsValid() {
			return nil
		}
		types = append(types, name)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// deletedViolation reports a registered version missing from the push, at
// its place in the registered descriptors (old, nil when unknown).
func deletedViolation(v EventVersion, old protoreflect.MessageDescriptor) schema.Violation {
	short := shortName(v.MessageName)
	vi := schema.Violation{
		Message: v.MessageName,
		Rule:    schema.RuleVersionDeleted,
		Detail:  fmt.Sprintf("%s (event %d v%d) is registered (revision %d) but missing from the push", short, v.EventID, v.Version, v.Revision),
		Hint:    fmt.Sprintf("versions are never deleted: restore %s; to stop it being sent, retire it in the registry", short),
	}
	if old != nil {
		vi.File, vi.Line = old.ParentFile().Path(), declLine(old)
		vi.Hint = fmt.Sprintf("versions are never deleted: restore %s in %s; to stop it being sent, retire it in the registry", short, vi.File)
	}
	return vi
}

// changedField names the first field, by number, whose shape differs
// between old and updated, with its line in updated (0 when updated lacks
// it); "" when the fields agree and the change is elsewhere.
func changedField(old, updated protoreflect.MessageDescriptor) (string, int) {
	var numbers []protoreflect.FieldNumber
	for _, md := range []protoreflect.MessageDescriptor{old, updated} {
		for i := range md.Fields().Len() {
			numbers = append(numbers, md.Fields().Get(i).Number())
		}
	}
	slices.Sort(numbers)
	for _, n := range slices.Compact(numbers) {
		of, nf := old.Fields().ByNumber(n), updated.Fields().ByNumber(n)
		switch {
		case nf == nil:
			return string(of.Name()), 0
		case of == nil || fieldShape(of) != fieldShape(nf):
			return string(nf.Name()), declLine(nf)
		}
	}
	return "", 0
}

// fieldShape is what the fingerprint covers of one field, including the
// shape of its message or enum type.
func fieldShape(f protoreflect.FieldDescriptor) string {
	shape := fmt.Sprintf("%s %s %v %v presence=%v optional=%v packed=%v map=%v",
		f.Name(), f.JSONName(), f.Cardinality(), f.Kind(), f.HasPresence(), f.HasOptionalKeyword(), f.IsPacked(), f.IsMap())
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		shape += " oneof=" + string(o.Name())
	}
	switch {
	case f.Message() != nil:
		shape += " " + schema.Fingerprint(f.Message())
	case f.Enum() != nil:
		values := f.Enum().Values()
		shape += " " + string(f.Enum().FullName())
		for i := range values.Len() {
			shape += fmt.Sprintf(" %s=%d", values.Get(i).Name(), values.Get(i).Number())
		}
	}
	return shape
}

// declLine is the 1-based line where d is declared, 0 without source info.
func declLine(d protoreflect.Descriptor) int {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if len(loc.Path) == 0 {
		return 0
	}
	return loc.StartLine + 1
}

// registeredDescriptors finds the descriptors of registered versions: in
// the newest push, which declares every registered version, or else in the
// push that registered the version.
type registeredDescriptors struct {
	store Store
	push  uint64 // the newest push revision
}

// message returns the registered descriptor of v; nil when no stored
// descriptor set declares it (registrations made without descriptors).
func (r registeredDescriptors) message(ctx context.Context, v EventVersion) (protoreflect.MessageDescriptor, error) {
	for _, rev := range []uint64{r.push, v.Revision} {
		if rev == 0 {
			continue
		}
		d, err := r.store.Descriptors(ctx, rev)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if md, ok := d.Message(v.MessageName); ok {
			return md, nil
		}
	}
	return nil, nil
}
