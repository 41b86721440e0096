package registry

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// Documentation of the catalogue, as the registry serves it (docs_http.go)
// in HTML and Markdown (docs_render.go). Every page is built from the
// registry's own read API, so the docs say exactly what the API says.

// usageWindow is the period of the volumes shown on event pages.
const usageWindow = 7 * 24 * time.Hour

// docScope is what a set of pages documents: one environment, or the whole
// catalogue when Env is empty.
type docScope struct {
	Env string
}

// base is the path of the scope's pages: "/docs/web/" or "/docs/".
func (s docScope) base() string {
	if s.Env == "" {
		return "/docs/"
	}
	return "/docs/" + s.Env + "/"
}

// eventPath is the path of an event's page in the scope, without an
// extension: "/docs/web/events/ItemView" or "/docs/events/ItemView".
func (s docScope) eventPath(name string) string {
	return s.base() + "events/" + name
}

// docIndex is the front page: environments and every event.
type docIndex struct {
	Revision     uint64
	Environments []docEnvironmentSummary
	Events       []docEventSummary
}

// docEnvironmentSummary is one line of the front page's environments.
type docEnvironmentSummary struct {
	Name        string
	Description string
	Events      int
	Versions    int
}

// docEnvironment is the page of one environment: the events it may send
// and which of their versions.
type docEnvironment struct {
	Name        string
	Description string
	Revision    uint64
	Events      []docEventSummary
}

// docEventSummary is one event in a list, with the versions the scope
// documents.
type docEventSummary struct {
	ID          uint32
	Name        string
	Description string
	Owner       docOwner
	Versions    []docVersionRef
	// Path is the event's page in the list's scope, without extension.
	Path string
}

// docVersionRef names a version and its status in a list.
type docVersionRef struct {
	Version uint32
	Status  string
}

// docOwner is the team answerable for an event; zero when nobody is.
type docOwner struct {
	Team    string
	Contact string
}

// docEvent is the page of one event: every version with its fields, the
// diff between consecutive versions, owner and usage.
type docEvent struct {
	Scope docScope
	// Path is the page's path without extension.
	Path        string
	Revision    uint64
	ID          uint32
	Name        string
	Description string
	Owner       docOwner
	Versions    []docVersion
	Diffs       []docDiff
	// UsageFrom and UsageTo bound the volumes of the versions.
	UsageFrom, UsageTo time.Time
}

// docVersion is one version of an event page.
type docVersion struct {
	Version     uint32
	MessageName string
	Description string
	Status      string
	Revision    uint64
	// DocsRevision is the push that last changed the documentation of the
	// version; Revision when none did.
	DocsRevision uint64
	File         string
	Fingerprint  string
	// Environments that may send the version.
	Environments []string
	// AllowedInScope is set when the scope's environment may send the
	// version (always for the whole catalogue).
	AllowedInScope bool
	Fields         []docField
	Usage          docUsage
}

// Anchor is the fragment of the version on its event page: "v2".
func (v docVersion) Anchor() string { return fmt.Sprintf("v%d", v.Version) }

// docField is one field of a version, as fieldDoc documents it.
type docField struct {
	Number        int32
	Name          string
	JSONName      string
	Type          string
	Label         string
	Oneof         string
	Required      bool
	RequiredMeans string
	PII           bool
	Description   string
	Example       string
	// Anchor is the fragment of the field on its event page: "v2-item_id".
	Anchor string
}

// docUsage is the volume of a version in the usage window (in the scope's
// environment, or everywhere), and when it was last sent, ever.
type docUsage struct {
	Accepted int64
	Rejected int64
	LastSeen []docLastSeen
}

// docLastSeen is when one environment and app version last sent a version.
type docLastSeen struct {
	Environment string
	AppVersion  string
	At          time.Time
}

// docDiff is what changed between two consecutive versions.
type docDiff struct {
	From, To uint32
	Changes  []string
}

// Anchor is the fragment of the diff on its event page: "diff-v1-v2".
func (d docDiff) Anchor() string { return fmt.Sprintf("diff-v%d-v%d", d.From, d.To) }

// docNotFound says what a docs path names that does not exist, and what
// does.
type docNotFound struct {
	// Title heads the page; "Not found" when empty.
	Title   string
	Message string
	// Links to what exists instead, by label.
	Links []docLink
}

// docLink is a labelled link.
type docLink struct {
	Label string
	Path  string
}

func (n *docNotFound) Error() string { return n.Message }

// docs builds documentation pages from the registry's read API.
type docs struct {
	svc *Service
	now func() time.Time
}

// index builds the front page.
func (d docs) index(ctx context.Context) (docIndex, error) {
	envs, err := d.svc.ListEnvironments(ctx, &registryv1.ListEnvironmentsRequest{})
	if err != nil {
		return docIndex{}, fmt.Errorf("list environments: %w", err)
	}
	events, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{})
	if err != nil {
		return docIndex{}, fmt.Errorf("list events: %w", err)
	}
	idx := docIndex{Revision: events.GetRevision()}
	for _, e := range envs.GetEnvironments() {
		ids := map[uint32]bool{}
		for _, v := range e.GetAllowed() {
			ids[v.GetEventId()] = true
		}
		idx.Environments = append(idx.Environments, docEnvironmentSummary{
			Name:        e.GetName(),
			Description: e.GetDescription(),
			Events:      len(ids),
			Versions:    len(e.GetAllowed()),
		})
	}
	for _, e := range events.GetEvents() {
		idx.Events = append(idx.Events, eventSummary(docScope{}, e, nil))
	}
	return idx, nil
}

// environment builds the page of one environment.
func (d docs) environment(ctx context.Context, name string) (docEnvironment, error) {
	env, err := d.environmentNamed(ctx, name)
	if err != nil {
		return docEnvironment{}, err
	}
	events, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{Environment: name})
	if err != nil {
		return docEnvironment{}, fmt.Errorf("list the events of environment %q: %w", name, err)
	}
	page := docEnvironment{Name: env.GetName(), Description: env.GetDescription(), Revision: events.GetRevision()}
	allowed := allowedVersions(env)
	for _, e := range events.GetEvents() {
		page.Events = append(page.Events, eventSummary(docScope{Env: name}, e, allowed))
	}
	return page, nil
}

// environmentNamed returns an environment, or a *docNotFound listing the
// environments there are.
func (d docs) environmentNamed(ctx context.Context, name string) (*registryv1.Environment, error) {
	envs, err := d.svc.ListEnvironments(ctx, &registryv1.ListEnvironmentsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	nf := &docNotFound{Links: []docLink{{Label: "the whole catalogue", Path: "/docs/"}}}
	var names []string
	for _, e := range envs.GetEnvironments() {
		if e.GetName() == name {
			return e, nil
		}
		names = append(names, e.GetName())
		nf.Links = append(nf.Links, docLink{Label: "environment " + e.GetName(), Path: docScope{Env: e.GetName()}.base()})
	}
	nf.Message = fmt.Sprintf("Environment %q does not exist.", name)
	if len(names) == 0 {
		nf.Message += " The registry has no environments yet; create one with the admin API (CreateEnvironment)."
	} else {
		nf.Message += " The environments are: " + strings.Join(names, ", ") + "."
	}
	return nil, nf
}

// event builds the page of the event called name in scope. name may also be
// the event's numeric id.
func (d docs) event(ctx context.Context, scope docScope, name string) (docEvent, error) {
	allowed, err := d.access(ctx, scope)
	if err != nil {
		return docEvent{}, err
	}
	text := name // narrows the list in SQL; an id is not in the text
	if _, err := strconv.ParseUint(name, 10, 32); err == nil {
		text = ""
	}
	list, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{Environment: scope.Env, Text: text})
	if err != nil {
		return docEvent{}, fmt.Errorf("list events: %w", err)
	}
	i := slices.IndexFunc(list.GetEvents(), func(e *registryv1.Event) bool { return namedBy(e, name) })
	if i < 0 {
		return docEvent{}, d.eventNotFound(ctx, scope, name)
	}
	return d.eventPage(ctx, scope, allowed, list.GetRevision(), list.GetEvents()[i].GetId())
}

// access returns what the scope's environment may send (event id →
// version → true), or nil for the whole catalogue.
func (d docs) access(ctx context.Context, scope docScope) (map[uint32]map[uint32]bool, error) {
	if scope.Env == "" {
		return nil, nil
	}
	env, err := d.environmentNamed(ctx, scope.Env)
	if err != nil {
		return nil, err
	}
	return allowedVersions(env), nil
}

// namedBy says whether name is e's name or numeric id.
func namedBy(e *registryv1.Event, name string) bool {
	return e.GetName() == name || strconv.FormatUint(uint64(e.GetId()), 10) == name
}

// eventPage builds the page of event id in scope; allowed is what the
// scope's environment may send, nil for the whole catalogue.
func (d docs) eventPage(ctx context.Context, scope docScope, allowed map[uint32]map[uint32]bool, revision uint64, id uint32) (docEvent, error) {
	resp, err := d.svc.GetEvent(ctx, &registryv1.GetEventRequest{EventId: id})
	if err != nil {
		return docEvent{}, fmt.Errorf("get event %d: %w", id, err)
	}
	e := resp.GetEvent()
	page := docEvent{
		Scope:       scope,
		Path:        scope.eventPath(e.GetName()),
		Revision:    revision,
		ID:          e.GetId(),
		Name:        e.GetName(),
		Description: e.GetDescription(),
		Owner:       ownerDoc(e.GetOwner()),
		UsageTo:     d.now().UTC().Truncate(time.Minute),
	}
	page.UsageFrom = page.UsageTo.Add(-usageWindow)
	for _, v := range e.GetVersions() {
		dv := versionDoc(v)
		dv.AllowedInScope = allowed == nil || allowed[e.GetId()][v.GetVersion()]
		if dv.Usage, err = d.usage(ctx, scope, v, page.UsageFrom, page.UsageTo); err != nil {
			return docEvent{}, err
		}
		page.Versions = append(page.Versions, dv)
	}
	for i := 1; i < len(page.Versions); i++ {
		from, to := page.Versions[i-1].Version, page.Versions[i].Version
		diff, err := d.svc.DiffVersions(ctx, &registryv1.DiffVersionsRequest{EventId: id, FromVersion: from, ToVersion: to})
		if err != nil {
			return docEvent{}, fmt.Errorf("diff event %d v%d..v%d: %w", id, from, to, err)
		}
		page.Diffs = append(page.Diffs, docDiff{From: from, To: to, Changes: diff.GetChanges()})
	}
	return page, nil
}

// eventNotFound explains that scope has no event called name, and lists
// the events it has.
func (d docs) eventNotFound(ctx context.Context, scope docScope, name string) error {
	list, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{Environment: scope.Env})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	nf := &docNotFound{}
	if scope.Env == "" {
		nf.Message = fmt.Sprintf("No event is called %q (nor has that id).", name)
	} else {
		nf.Message = fmt.Sprintf("Environment %q sends no event called %q (nor with that id).", scope.Env, name)
		nf.Links = append(nf.Links, docLink{Label: "every event of the catalogue", Path: "/docs/"})
		// The event may exist without the environment being allowed it.
		all, err := d.svc.ListEvents(ctx, &registryv1.ListEventsRequest{})
		if err != nil {
			return fmt.Errorf("list events: %w", err)
		}
		if i := slices.IndexFunc(all.GetEvents(), func(e *registryv1.Event) bool { return namedBy(e, name) }); i >= 0 {
			e := all.GetEvents()[i]
			nf.Message = fmt.Sprintf("Environment %q may not send event %d %s; grant it with the admin API (SetEventAccess) or read its documentation in the whole catalogue.",
				scope.Env, e.GetId(), e.GetName())
			nf.Links = append([]docLink{{Label: e.GetName() + " in the whole catalogue", Path: docScope{}.eventPath(e.GetName())}}, nf.Links...)
		}
	}
	var names []string
	for _, e := range list.GetEvents() {
		names = append(names, e.GetName())
		nf.Links = append(nf.Links, docLink{Label: e.GetName(), Path: scope.eventPath(e.GetName())})
	}
	if len(names) > 0 {
		nf.Message += " Its events are: " + strings.Join(names, ", ") + "."
	}
	return nf
}

// usage returns the volume of v in [from, to) and when it was last sent,
// in the scope's environment or everywhere.
func (d docs) usage(ctx context.Context, scope docScope, v *registryv1.EventVersion, from, to time.Time) (docUsage, error) {
	stats, err := d.svc.store.EventStats(ctx, StatsQuery{
		EventID:     v.GetEventId(),
		Version:     v.GetVersion(),
		Environment: scope.Env,
		From:        from,
		To:          to,
		Bucket:      to.Sub(from),
	})
	if err != nil {
		return docUsage{}, fmt.Errorf("usage of event %d v%d: %w", v.GetEventId(), v.GetVersion(), err)
	}
	u := docUsage{Accepted: stats.Accepted, Rejected: stats.Rejected}
	for _, l := range stats.LastSeen {
		u.LastSeen = append(u.LastSeen, docLastSeen{Environment: l.Environment, AppVersion: l.AppVersion, At: l.At.UTC()})
	}
	return u, nil
}

// allowedVersions indexes what env may send: event id → version → true.
func allowedVersions(env *registryv1.Environment) map[uint32]map[uint32]bool {
	allowed := map[uint32]map[uint32]bool{}
	for _, v := range env.GetAllowed() {
		if allowed[v.GetEventId()] == nil {
			allowed[v.GetEventId()] = map[uint32]bool{}
		}
		allowed[v.GetEventId()][v.GetVersion()] = true
	}
	return allowed
}

// eventSummary lists e in scope: every version for the whole catalogue,
// the allowed ones for an environment.
func eventSummary(scope docScope, e *registryv1.Event, allowed map[uint32]map[uint32]bool) docEventSummary {
	s := docEventSummary{
		ID:          e.GetId(),
		Name:        e.GetName(),
		Description: e.GetDescription(),
		Owner:       ownerDoc(e.GetOwner()),
		Path:        scope.eventPath(e.GetName()),
	}
	for _, v := range e.GetVersions() {
		if allowed != nil && !allowed[e.GetId()][v.GetVersion()] {
			continue
		}
		s.Versions = append(s.Versions, docVersionRef{Version: v.GetVersion(), Status: statusDoc(v.GetStatus())})
	}
	return s
}

func ownerDoc(o *registryv1.Owner) docOwner {
	return docOwner{Team: o.GetTeam(), Contact: o.GetContact()}
}

// versionDoc documents a version GetEvent returned, fields included.
func versionDoc(v *registryv1.EventVersion) docVersion {
	dv := docVersion{
		Version:      v.GetVersion(),
		MessageName:  v.GetMessageName(),
		Description:  v.GetDescription(),
		Status:       statusDoc(v.GetStatus()),
		Revision:     v.GetRevision(),
		DocsRevision: v.GetDocsRevision(),
		File:         v.GetFile(),
		Fingerprint:  v.GetFingerprint(),
		Environments: slices.Sorted(slices.Values(v.GetEnvironments())),
	}
	for _, f := range v.GetFields() {
		dv.Fields = append(dv.Fields, docField{
			Number:        f.GetNumber(),
			Name:          f.GetName(),
			JSONName:      f.GetJsonName(),
			Type:          f.GetType(),
			Label:         f.GetLabel(),
			Oneof:         f.GetOneof(),
			Required:      f.GetRequired(),
			RequiredMeans: f.GetRequiredMeans(),
			PII:           f.GetPii(),
			Description:   f.GetDescription(),
			Example:       f.GetExample(),
			Anchor:        fmt.Sprintf("v%d-%s", v.GetVersion(), f.GetName()),
		})
	}
	slices.SortFunc(dv.Fields, func(a, b docField) int { return cmp.Compare(a.Number, b.Number) })
	return dv
}

// statusDoc is a lifecycle status in words: "active", "deprecated",
// "retired".
func statusDoc(s registryv1.LifecycleStatus) string {
	switch s {
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_ACTIVE:
		return string(LifecycleActive)
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_DEPRECATED:
		return string(LifecycleDeprecated)
	case registryv1.LifecycleStatus_LIFECYCLE_STATUS_RETIRED:
		return string(LifecycleRetired)
	}
	return "unknown"
}
