package awards

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Contribution is one entry of the contribution ledger, keyed by (user,
// objective, content id): what one piece of content currently adds to the
// objective's counters.
type Contribution struct {
	// ContentID is the ledger key within the user's objective: a photo id,
	// a map object id, an event record id, a distinct value.
	ContentID string
	// ItemID is the content holding the entry when it differs from the key:
	// the review that counts for a map object under UniqueByObjectRule.
	ItemID string
	// Status is the content's status ("active", "blocked"), or "counted"
	// for events that cannot be undone.
	Status string
	// Value is the counted value: 1 for a counted item, metres for a sum.
	Value float64
	// OccurredAt, Sequence and RecordID identify the event that set the
	// entry; an older event for the same content changes nothing (see
	// follows), so redelivery and reordering are harmless.
	OccurredAt time.Time
	Sequence   uint64
	RecordID   string
	// Items are the states of every item of the content under
	// UniqueByObjectRule (the reviews of one map object); nil for the
	// other rules.
	Items map[string]ItemState
}

// ItemState is the last known status of one item of a ledger entry, and
// the event that set it.
type ItemState struct {
	Status     string    `json:"status"`
	OccurredAt time.Time `json:"occurred_at,omitzero"`
	Sequence   uint64    `json:"seq,omitempty"`
	RecordID   string    `json:"record_id"`
}

// equalContributions reports whether two ledger entries are the same.
func equalContributions(a, b Contribution) bool {
	return a.ContentID == b.ContentID && a.ItemID == b.ItemID && a.Status == b.Status && a.Value == b.Value &&
		a.OccurredAt.Equal(b.OccurredAt) && a.Sequence == b.Sequence && a.RecordID == b.RecordID &&
		maps.EqualFunc(a.Items, b.Items, func(x, y ItemState) bool {
			return x.Status == y.Status && x.OccurredAt.Equal(y.OccurredAt) && x.Sequence == y.Sequence && x.RecordID == y.RecordID
		})
}

// Deltas maps a counter name to the amount it changes by. Counters that do
// not change are absent.
type Deltas map[string]float64

// Rule turns an event into a ledger entry and counter deltas, purely: the
// new entry depends only on the previous entry and the event, and the
// deltas are the difference between what the new entry and the previous one
// add to the counters. Applying an event whose effect the ledger already
// holds changes nothing, which makes redelivery idempotent.
type Rule interface {
	// ContentID is the ledger key the event concerns; false when the event
	// lacks it (the event then moves nothing).
	ContentID(ev Event) (string, bool)
	// Apply returns the new ledger entry for ev's content, given the
	// previous entry (nil when there is none), and the counter deltas.
	// ok is false when the event lacks the content id.
	Apply(prev *Contribution, ev Event) (next Contribution, deltas Deltas, ok bool)
	// ProgressCounter is the counter the objective's progress reads.
	ProgressCounter() string
	// Counters is what one ledger entry adds to the counters; the sum over
	// a user's ledger is a full recomputation of the objective's counters.
	Counters(c Contribution) Deltas
}

// RuleFactory builds a rule from its JSON config; see FilterFactory.
type RuleFactory func(config json.RawMessage, sources []protoreflect.MessageDescriptor) (Rule, error)

// RegisterRule adds a rule implementation under name, replacing any earlier
// one of that name.
func (r *Components) RegisterRule(name string, f RuleFactory) { r.rules[name] = f }

// RuleNames lists the registered rule names, sorted.
func (r *Components) RuleNames() []string { return sortedKeys(r.rules) }

// ParseRule decodes and validates an objective's rule, e.g.
// {"name":"ReviewUniqueByObjectRule","config":{}}. Every field the rule
// reads must exist in each of sources (skipped when sources is empty).
// Errors are *ConfigError.
func (r *Components) ParseRule(data []byte, sources []protoreflect.MessageDescriptor) (Rule, error) {
	var spec ComponentConfig
	if err := decodeStrict(data, &spec); err != nil {
		return nil, &ConfigError{Kind: "rule", Index: -1, Problem: "the rule is not valid: " + err.Error(),
			Fix: `write a JSON object such as {"name":"CountRule","config":{}}`}
	}
	factory, ok := r.rules[spec.Name]
	if !ok {
		return nil, unknownComponent("rule", -1, spec.Name, r.RuleNames())
	}
	rule, err := factory(spec.Config, sources)
	if err != nil {
		return nil, componentError("rule", -1, spec.Name, err)
	}
	return rule, nil
}

func registerBuiltinRules(r *Components) {
	r.RegisterRule("StatusCounterRule", newStatusCounterRule)
	r.RegisterRule("UniqueByObjectRule", newUniqueByObjectRule(""))
	r.RegisterRule("ReviewUniqueByObjectRule", newUniqueByObjectRule("review_id"))
	r.RegisterRule("SumRule", newSumRule)
	r.RegisterRule("CountRule", newCountRule)
	r.RegisterRule("DistinctValuesRule", newDistinctValuesRule)
}

// counterFunc is what a ledger entry adds to the counters.
type counterFunc func(c Contribution) Deltas

// diff is counters(next) − counters(prev), without zero entries.
func diff(counters counterFunc, prev *Contribution, next Contribution) Deltas {
	d := Deltas{}
	maps.Copy(d, counters(next))
	if prev != nil {
		for k, v := range counters(*prev) {
			d[k] -= v
		}
	}
	for k, v := range d {
		if v == 0 {
			delete(d, k)
		}
	}
	if len(d) == 0 {
		return nil
	}
	return d
}

// follows reports whether ev comes after the event that set a piece of
// content's state (at, seq, record), so that its status change applies.
// The order of one content item's status changes is:
//
//  1. event time, when both events carry one and the times differ (at
//     the microsecond precision they are stored with);
//  2. otherwise the order on the bus: the EVENTS stream sequence. A master
//     system publishes the status changes of its content in order, so the
//     bus order is the truth when times do not decide;
//  3. when either stream sequence is unknown (an event applied without
//     its bus position), the order of application: the event applied now
//     is the later one.
//
// Never the idempotency key or record id: they say which event it is, not
// when it happened. The same record is never after itself, so a
// redelivery changes nothing.
func follows(ev Event, at time.Time, seq uint64, record string) bool {
	if record != "" && ev.RecordID == record {
		return false
	}
	if !ev.OccurredAt.IsZero() && !at.IsZero() {
		if c := ev.OccurredAt.Truncate(time.Microsecond).Compare(at.Truncate(time.Microsecond)); c != 0 {
			return c > 0
		}
	}
	if ev.Sequence != 0 && seq != 0 {
		return ev.Sequence > seq
	}
	return true
}

// newer reports whether ev comes after the event that set prev (see
// follows); any event comes after no entry.
func newer(ev Event, prev *Contribution) bool {
	return prev == nil || follows(ev, prev.OccurredAt, prev.Sequence, prev.RecordID)
}

func statusFieldCheck(fd protoreflect.FieldDescriptor) error {
	if fd.Kind() != protoreflect.EnumKind && fd.Kind() != protoreflect.StringKind {
		return fmt.Errorf("is %s, neither an enum nor a string", fd.Kind())
	}
	return nil
}

func stringFieldCheck(fd protoreflect.FieldDescriptor) error {
	if fd.Kind() != protoreflect.StringKind && !isNumericKind(fd.Kind()) && fd.Kind() != protoreflect.EnumKind {
		return fmt.Errorf("is %s, which cannot be a content id", fd.Kind())
	}
	return nil
}

// checkStatuses checks that status names exist in the status enum of every
// source (when the status field is an enum).
func checkStatuses(sources []protoreflect.MessageDescriptor, statusField, setting string, statuses ...string) error {
	for _, md := range sources {
		fd, err := schemaField(md, statusField)
		if err != nil || fd.Kind() != protoreflect.EnumKind {
			continue
		}
		for _, s := range statuses {
			if v := enumValueByName(fd.Enum(), s); v == nil || shortEnumName(fd.Enum(), v.Name()) != s {
				var names []string
				for i := range fd.Enum().Values().Len() {
					names = append(names, shortEnumName(fd.Enum(), fd.Enum().Values().Get(i).Name()))
				}
				return badSetting(setting, "use one of "+strings.Join(names, ", "),
					"%q is not a status of %s", s, fd.Enum().FullName())
			}
		}
	}
	return nil
}

// statusCounterRule counts content with a status model by status: each
// item adds 1 to the counter named after its current status, so a
// transition moves it between counters.
// Config: {"content_id":"photo_id","status":"status","progress":"active"};
// status defaults to "status", progress to "active".
type statusCounterRule struct {
	contentID, status, progress string
}

func newStatusCounterRule(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Rule, error) {
	var cfg struct {
		ContentID string `json:"content_id"`
		Status    string `json:"status"`
		Progress  string `json:"progress"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Status == "" {
		cfg.Status = "status"
	}
	if cfg.Progress == "" {
		cfg.Progress = "active"
	}
	if err := checkField(sources, "content_id", cfg.ContentID, stringFieldCheck); err != nil {
		return nil, err
	}
	if err := checkField(sources, "status", cfg.Status, statusFieldCheck); err != nil {
		return nil, err
	}
	if err := checkStatuses(sources, cfg.Status, "progress", cfg.Progress); err != nil {
		return nil, err
	}
	return &statusCounterRule{contentID: cfg.ContentID, status: cfg.Status, progress: cfg.Progress}, nil
}

func (r *statusCounterRule) ContentID(ev Event) (string, bool) { return ev.FieldText(r.contentID) }
func (r *statusCounterRule) ProgressCounter() string           { return r.progress }

func (r *statusCounterRule) Counters(c Contribution) Deltas {
	if c.Status == "" {
		return nil
	}
	return Deltas{c.Status: c.Value}
}

func (r *statusCounterRule) Apply(prev *Contribution, ev Event) (Contribution, Deltas, bool) {
	id, ok := r.ContentID(ev)
	if !ok {
		return Contribution{}, nil, false
	}
	status, ok := ev.FieldStatus(r.status)
	if !ok || !newer(ev, prev) {
		return keep(prev, id), nil, true
	}
	next := Contribution{ContentID: id, Status: status, Value: 1, OccurredAt: ev.OccurredAt, Sequence: ev.Sequence, RecordID: ev.RecordID}
	return next, diff(r.Counters, prev, next), true
}

// keep returns the previous entry unchanged (or an empty one for id).
func keep(prev *Contribution, id string) Contribution {
	if prev == nil {
		return Contribution{ContentID: id}
	}
	return *prev
}

// uniqueByObjectRule counts one item per map object: a place counts while
// the user has at least one counted item of it (e.g. one published review,
// however many they wrote). The ledger key is the object id; the entry
// keeps the last status of each of the user's items of the object, each
// ordered on its own (see follows), so a blocked or deleted item hands the
// place to another counted item, and a rejected item rewritten counts.
// Every delivery order of the same events ends in the same entry.
// Config: {"object":"object_id","item":"review_id","status":"status",
// "counted":["active"]}; ReviewUniqueByObjectRule defaults item to
// "review_id". The counter is "count".
type uniqueByObjectRule struct {
	object, item, status string
	counted              map[string]bool
}

func newUniqueByObjectRule(defaultItem string) RuleFactory {
	return func(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Rule, error) {
		var cfg struct {
			Object  string   `json:"object"`
			Item    string   `json:"item"`
			Status  string   `json:"status"`
			Counted []string `json:"counted"`
		}
		if err := decodeConfig(raw, &cfg); err != nil {
			return nil, err
		}
		if cfg.Object == "" {
			cfg.Object = "object_id"
		}
		if cfg.Item == "" {
			cfg.Item = defaultItem
		}
		if cfg.Status == "" {
			cfg.Status = "status"
		}
		if len(cfg.Counted) == 0 {
			cfg.Counted = []string{"active"}
		}
		if err := checkField(sources, "object", cfg.Object, stringFieldCheck); err != nil {
			return nil, err
		}
		if err := checkField(sources, "item", cfg.Item, stringFieldCheck); err != nil {
			return nil, err
		}
		if err := checkField(sources, "status", cfg.Status, statusFieldCheck); err != nil {
			return nil, err
		}
		if err := checkStatuses(sources, cfg.Status, "counted", cfg.Counted...); err != nil {
			return nil, err
		}
		r := &uniqueByObjectRule{object: cfg.Object, item: cfg.Item, status: cfg.Status, counted: map[string]bool{}}
		for _, s := range cfg.Counted {
			r.counted[s] = true
		}
		return r, nil
	}
}

func (r *uniqueByObjectRule) ContentID(ev Event) (string, bool) { return ev.FieldText(r.object) }
func (r *uniqueByObjectRule) ProgressCounter() string           { return "count" }

func (r *uniqueByObjectRule) Counters(c Contribution) Deltas {
	if !r.counted[c.Status] {
		return nil
	}
	return Deltas{"count": 1}
}

func (r *uniqueByObjectRule) Apply(prev *Contribution, ev Event) (Contribution, Deltas, bool) {
	id, ok := r.ContentID(ev)
	if !ok {
		return Contribution{}, nil, false
	}
	item, ok := ev.FieldText(r.item)
	status, hasStatus := ev.FieldStatus(r.status)
	if !ok || !hasStatus {
		return keep(prev, id), nil, true
	}
	items := map[string]ItemState{}
	if prev != nil {
		maps.Copy(items, prev.Items)
		if len(prev.Items) == 0 && prev.ItemID != "" {
			// An entry written before items were kept: its holder.
			items[prev.ItemID] = ItemState{Status: prev.Status, OccurredAt: prev.OccurredAt, Sequence: prev.Sequence, RecordID: prev.RecordID}
		}
	}
	if st, seen := items[item]; seen && !follows(ev, st.OccurredAt, st.Sequence, st.RecordID) {
		return *prev, nil, true // an older event of this item
	}
	items[item] = ItemState{Status: status, OccurredAt: ev.OccurredAt, Sequence: ev.Sequence, RecordID: ev.RecordID}
	next := Contribution{ContentID: id, Value: 1, OccurredAt: ev.OccurredAt, Sequence: ev.Sequence, RecordID: ev.RecordID, Items: items}
	next.ItemID, next.Status = r.holder(items)
	return next, diff(r.Counters, prev, next), true
}

// holder is the item an entry shows: the first counted item by id, or,
// when none counts, the first item by id; and its status.
func (r *uniqueByObjectRule) holder(items map[string]ItemState) (item, status string) {
	for _, id := range slices.Sorted(maps.Keys(items)) {
		if r.counted[items[id].Status] {
			return id, items[id].Status
		}
		if item == "" {
			item, status = id, items[id].Status
		}
	}
	return item, status
}

// sumRule sums a numeric field of events that cannot be undone, e.g.
// navigation metres. The ledger key is the event record id, so a redelivered
// event adds nothing. Config: {"field":"distance_m"}. The counter is "sum".
type sumRule struct{ field string }

func newSumRule(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Rule, error) {
	var cfg struct {
		Field string `json:"field"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	err := checkField(sources, "field", cfg.Field, func(fd protoreflect.FieldDescriptor) error {
		if !isNumericKind(fd.Kind()) {
			return fmt.Errorf("is %s, not a number", fd.Kind())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sumRule{field: cfg.Field}, nil
}

func (r *sumRule) ContentID(ev Event) (string, bool) { return recordContentID(ev) }
func (r *sumRule) ProgressCounter() string           { return "sum" }

func (r *sumRule) Apply(prev *Contribution, ev Event) (Contribution, Deltas, bool) {
	n, _ := ev.FieldNumber(r.field) // unset is 0 in proto3
	return applyOnce(prev, ev, ev.RecordID, n, "sum")
}

// recordContentID keys events that cannot be undone by their record id.
func recordContentID(ev Event) (string, bool) { return ev.RecordID, ev.RecordID != "" }

// applyOnce records content that counts once and never changes: the first
// delivery adds value to counter, any later one nothing.
func applyOnce(prev *Contribution, ev Event, id string, value float64, counter string) (Contribution, Deltas, bool) {
	if id == "" {
		return Contribution{}, nil, false
	}
	if prev != nil {
		return *prev, nil, true
	}
	next := Contribution{ContentID: id, Status: "counted", Value: value, OccurredAt: ev.OccurredAt, Sequence: ev.Sequence, RecordID: ev.RecordID}
	return next, diff(onceCounters(counter), nil, next), true
}

// onceCounters is what an entry of applyOnce adds to counter.
func onceCounters(counter string) counterFunc {
	return func(c Contribution) Deltas {
		if c.Status != "counted" || c.Value == 0 {
			return nil
		}
		return Deltas{counter: c.Value}
	}
}

// countRule counts events that cannot be undone (analytics), each record
// once. Config: {}. The counter is "count".
type countRule struct{}

func newCountRule(raw json.RawMessage, _ []protoreflect.MessageDescriptor) (Rule, error) {
	var cfg struct{}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return countRule{}, nil
}

func (countRule) ContentID(ev Event) (string, bool) { return recordContentID(ev) }
func (countRule) ProgressCounter() string           { return "count" }

func (countRule) Apply(prev *Contribution, ev Event) (Contribution, Deltas, bool) {
	return applyOnce(prev, ev, ev.RecordID, 1, "count")
}

// distinctValuesRule counts the distinct values of a field, e.g. the places
// whose cards a user opened. The ledger key is the value.
// Config: {"field":"object_id"}. The counter is "count".
type distinctValuesRule struct{ field string }

func newDistinctValuesRule(raw json.RawMessage, sources []protoreflect.MessageDescriptor) (Rule, error) {
	var cfg struct {
		Field string `json:"field"`
	}
	if err := decodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if err := checkField(sources, "field", cfg.Field, stringFieldCheck); err != nil {
		return nil, err
	}
	return &distinctValuesRule{field: cfg.Field}, nil
}

func (r *distinctValuesRule) ContentID(ev Event) (string, bool) { return ev.FieldText(r.field) }
func (r *distinctValuesRule) ProgressCounter() string           { return "count" }

func (r *distinctValuesRule) Apply(prev *Contribution, ev Event) (Contribution, Deltas, bool) {
	id, ok := r.ContentID(ev)
	if !ok {
		return Contribution{}, nil, false
	}
	return applyOnce(prev, ev, id, 1, "count")
}

func (r *sumRule) Counters(c Contribution) Deltas            { return onceCounters("sum")(c) }
func (countRule) Counters(c Contribution) Deltas             { return onceCounters("count")(c) }
func (r *distinctValuesRule) Counters(c Contribution) Deltas { return onceCounters("count")(c) }
