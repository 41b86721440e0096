package awards

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/pmezard/go-difflib/difflib"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
)

// AdminAPI implements clickstream.awards.v1.AwardsAdminService, the private
// API for operators, for grpc-go (the in-process REST gateway) and Connect
// alike. Routes puts it behind the admin token.
type AdminAPI struct {
	awardsv1.UnimplementedAwardsAdminServiceServer
	engine    *Engine
	consumers *Consumers
	backfills *Backfills
	log       *slog.Logger
}

var (
	_ awardsv1.AwardsAdminServiceServer         = (*AdminAPI)(nil)
	_ awardsv1connect.AwardsAdminServiceHandler = (*AdminAPI)(nil)
)

// NewAdminAPI returns the admin API over the engine, its consuming workers
// and its backfills. consumers may be nil when this process runs none:
// sources are then listed from the configuration, and pausing takes effect
// in the process that runs them within a second. backfills may be nil: the
// backfill calls then answer Unavailable.
func NewAdminAPI(e *Engine, consumers *Consumers, backfills *Backfills) *AdminAPI {
	return &AdminAPI{engine: e, consumers: consumers, backfills: backfills, log: e.log.With("api", "admin")}
}

// SaveAchievement implements AwardsAdminService.SaveAchievement.
func (a *AdminAPI) SaveAchievement(ctx context.Context, req *awardsv1.SaveAchievementRequest) (*awardsv1.SaveAchievementResponse, error) {
	if strings.TrimSpace(req.GetActor()) == "" {
		return nil, invalid("actor is required: who makes the change is recorded in the history")
	}
	if err := checkIdentifiers("actor", req.GetActor()); err != nil {
		return nil, err
	}
	c, err := ConfigFromProto(req.GetConfig())
	if err != nil {
		return nil, invalid("%v", err)
	}
	res, err := a.engine.Save(ctx, c, req.GetActor())
	if err != nil {
		return nil, apiError(err)
	}
	if res.Changed && a.consumers != nil {
		// A new source's worker exists before the call returns: events
		// sent from then on count.
		if err := a.consumers.Apply(ctx); err != nil {
			return nil, apiError(err)
		}
	}
	return &awardsv1.SaveAchievementResponse{Version: int32(res.Version), Changed: res.Changed}, nil
}

// ValidateAchievement implements AwardsAdminService.ValidateAchievement.
func (a *AdminAPI) ValidateAchievement(ctx context.Context, req *awardsv1.ValidateAchievementRequest) (*awardsv1.ValidateAchievementResponse, error) {
	c, err := ConfigFromProto(req.GetConfig())
	if err != nil {
		return nil, invalid("%v", err)
	}
	resp := &awardsv1.ValidateAchievementResponse{}
	if _, err := Compile(a.engine.components, a.engine.schemas, c); err != nil {
		resp.Problems = strings.Split(err.Error(), "\n")
	}
	var stored *AchievementConfig
	// An id that is not one (Compile said why) has nothing stored.
	if idPattern.MatchString(c.ID) {
		list, err := a.engine.store.StoredConfigs(ctx, c.ID)
		switch {
		case err == nil:
			stored = &list[0].Config
		case !isNotFound(err):
			return nil, apiError(err)
		}
	}
	resp.Diff, resp.Changes, err = ConfigDiff(stored, c)
	if err != nil {
		return nil, apiError(err)
	}
	return resp, nil
}

// ConfigDiff is a unified diff of two configurations as indented JSON
// (from nil for a new achievement), and whether they differ.
func ConfigDiff(from *AchievementConfig, to AchievementConfig) (string, bool, error) {
	var before []byte
	if from != nil {
		var err error
		if before, err = json.MarshalIndent(from.Canonical(), "", "  "); err != nil {
			return "", false, err
		}
	}
	after, err := json.MarshalIndent(to.Canonical(), "", "  ")
	if err != nil {
		return "", false, err
	}
	if from != nil && string(before) == string(after) {
		return "", false, nil
	}
	name := "achievement " + to.ID
	diff, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before) + "\n"), B: difflib.SplitLines(string(after) + "\n"),
		FromFile: name + " (stored)", ToFile: name + " (new)", Context: 3,
	})
	return diff, true, err
}

// GetAchievementConfig implements AwardsAdminService.GetAchievementConfig.
func (a *AdminAPI) GetAchievementConfig(ctx context.Context, req *awardsv1.GetAchievementConfigRequest) (*awardsv1.GetAchievementConfigResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id is required")
	}
	if err := checkIdentifiers("id", req.GetId()); err != nil {
		return nil, err
	}
	list, err := a.engine.store.StoredConfigs(ctx, req.GetId())
	if err != nil {
		return nil, apiError(err)
	}
	sc, err := storedConfigToProto(list[0])
	if err != nil {
		return nil, apiError(err)
	}
	return &awardsv1.GetAchievementConfigResponse{Achievement: sc}, nil
}

// ListAchievementConfigs implements AwardsAdminService.ListAchievementConfigs.
func (a *AdminAPI) ListAchievementConfigs(ctx context.Context, _ *awardsv1.ListAchievementConfigsRequest) (*awardsv1.ListAchievementConfigsResponse, error) {
	list, err := a.engine.store.StoredConfigs(ctx, "")
	if err != nil {
		return nil, apiError(err)
	}
	resp := &awardsv1.ListAchievementConfigsResponse{}
	for _, sc := range list {
		p, err := storedConfigToProto(sc)
		if err != nil {
			return nil, apiError(err)
		}
		resp.Achievements = append(resp.Achievements, p)
	}
	return resp, nil
}

func storedConfigToProto(sc StoredConfig) (*awardsv1.StoredAchievementConfig, error) {
	c, err := ConfigToProto(sc.Config)
	if err != nil {
		return nil, err
	}
	return &awardsv1.StoredAchievementConfig{Config: c, Version: int32(sc.Version), DisabledReason: sc.DisabledReason}, nil
}

// ListConfigHistory implements AwardsAdminService.ListConfigHistory.
func (a *AdminAPI) ListConfigHistory(ctx context.Context, req *awardsv1.ListConfigHistoryRequest) (*awardsv1.ListConfigHistoryResponse, error) {
	if req.GetId() == "" {
		return nil, invalid("id is required")
	}
	if err := checkIdentifiers("id", req.GetId()); err != nil {
		return nil, err
	}
	versions, err := a.engine.store.ConfigHistory(ctx, req.GetId())
	if err != nil {
		return nil, apiError(err)
	}
	resp := &awardsv1.ListConfigHistoryResponse{}
	for _, v := range versions {
		c, err := ConfigToProto(v.Config)
		if err != nil {
			return nil, apiError(err)
		}
		resp.Versions = append(resp.Versions, &awardsv1.ConfigVersion{Version: int32(v.Version), Author: v.Author,
			ChangedAt: timestamppb.New(v.ChangedAt), Config: c})
	}
	return resp, nil
}

// ListComponents implements AwardsAdminService.ListComponents.
func (a *AdminAPI) ListComponents(context.Context, *awardsv1.ListComponentsRequest) (*awardsv1.ListComponentsResponse, error) {
	convert := func(infos []ComponentInfo) []*awardsv1.Component {
		out := make([]*awardsv1.Component, 0, len(infos))
		for _, info := range infos {
			c := &awardsv1.Component{Name: info.Name, Description: info.Description}
			for _, s := range info.Settings {
				c.Settings = append(c.Settings, &awardsv1.ComponentSetting{Name: s.Name, Type: s.Type, Required: s.Required, Description: s.Description})
			}
			out = append(out, c)
		}
		return out
	}
	return &awardsv1.ListComponentsResponse{Filters: convert(a.engine.components.FilterInfo()), Rules: convert(a.engine.components.RuleInfo())}, nil
}

// Explain implements AwardsAdminService.Explain.
func (a *AdminAPI) Explain(ctx context.Context, req *awardsv1.ExplainRequest) (*awardsv1.ExplainResponse, error) {
	if req.GetUserId() == "" || req.GetAchievementId() == "" {
		return nil, invalid("user_id and achievement_id are required")
	}
	if err := checkIdentifiers("user_id", req.GetUserId(), "achievement_id", req.GetAchievementId()); err != nil {
		return nil, err
	}
	x, err := a.engine.Explain(ctx, req.GetUserId(), req.GetAchievementId())
	if err != nil {
		return nil, apiError(err)
	}
	return ExplanationToProto(x), nil
}

// ExplanationToProto converts an explanation for the API.
func ExplanationToProto(x Explanation) *awardsv1.ExplainResponse {
	resp := &awardsv1.ExplainResponse{UserId: x.UserID, AchievementId: x.AchievementID, Progress: x.Progress, Goal: x.Goal,
		Completed: x.Completed, UserStatus: x.UserStatus}
	for _, n := range x.Nodes {
		resp.Nodes = append(resp.Nodes, &awardsv1.ExplainNode{Path: n.Path, ObjectiveId: n.ObjectiveID, Operation: string(n.Operation),
			Uncapped: n.Uncapped, Goal: n.Goal, Value: n.Value})
	}
	for _, o := range x.Objectives {
		po := &awardsv1.ExplainObjective{Key: o.Key, Progress: o.Progress, Counters: o.Counters}
		for _, c := range o.Contributions {
			pc := &awardsv1.Contribution{ContentId: c.ContentID, ItemId: c.ItemID, Status: c.Status, Value: c.Value, RecordId: c.RecordID}
			if !c.OccurredAt.IsZero() {
				pc.OccurredAt = timestamppb.New(c.OccurredAt)
			}
			po.Contributions = append(po.Contributions, pc)
		}
		resp.Objectives = append(resp.Objectives, po)
	}
	return resp
}

// ListProcessingLog implements AwardsAdminService.ListProcessingLog.
func (a *AdminAPI) ListProcessingLog(ctx context.Context, req *awardsv1.ListProcessingLogRequest) (*awardsv1.ListProcessingLogResponse, error) {
	if req.GetUserId() == "" || req.GetAchievementId() == "" {
		return nil, invalid("user_id and achievement_id are required")
	}
	if err := checkIdentifiers("user_id", req.GetUserId(), "achievement_id", req.GetAchievementId(), "objective_key", req.GetObjectiveKey()); err != nil {
		return nil, err
	}
	ach, err := a.engine.runningAchievement(req.GetAchievementId())
	if err != nil {
		return nil, apiError(err)
	}
	keys := map[int64]string{}
	var ids []int64
	for _, o := range ach.Objectives {
		if req.GetObjectiveKey() == "" || req.GetObjectiveKey() == o.Key {
			keys[o.ID] = o.Key
			ids = append(ids, o.ID)
		}
	}
	if len(ids) == 0 {
		return nil, invalid("achievement %q has no objective %q", ach.Config.ID, req.GetObjectiveKey())
	}
	size, err := pageSize(max(req.GetPageSize(), 0), maxAdminPageSize) // a negative size means the default here
	if err != nil {
		return nil, err
	}
	var after *LogPage
	if t := req.GetPageToken(); t != "" {
		after = &LogPage{}
		if err := decodeToken(t, after); err != nil || identifierProblem(after.RecordID) != "" {
			return nil, invalid("page_token is not valid: pass the next_page_token of the previous response unchanged")
		}
	}
	entries, err := a.engine.store.ProcessingLog(ctx, req.GetUserId(), ids, after, size+1)
	if err != nil {
		return nil, apiError(err)
	}
	resp := &awardsv1.ListProcessingLogResponse{}
	if len(entries) > size {
		entries = entries[:size]
		last := entries[len(entries)-1]
		resp.NextPageToken = encodeToken(LogPage{ProcessedAt: last.ProcessedAt, RecordID: last.RecordID})
	}
	for _, e := range entries {
		pe := &awardsv1.ProcessingLogEntry{RecordId: e.RecordID, ObjectiveKey: keys[e.ObjectiveID], Outcome: e.Outcome, Filter: e.Filter,
			ContentId: e.ContentID, Delta: e.Delta, Counters: e.Counters, ProcessedAt: timestamppb.New(e.ProcessedAt)}
		if e.OccurredAt != nil {
			pe.OccurredAt = timestamppb.New(*e.OccurredAt)
		}
		resp.Entries = append(resp.Entries, pe)
	}
	return resp, nil
}

// maxAdminPageSize bounds the pages of the admin lists.
const maxAdminPageSize = 500

func encodeToken(v any) string {
	js, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(js)
}

func decodeToken(token string, v any) error {
	js, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return err
	}
	return json.Unmarshal(js, v)
}

// RecomputeUser implements AwardsAdminService.RecomputeUser.
func (a *AdminAPI) RecomputeUser(ctx context.Context, req *awardsv1.RecomputeUserRequest) (*awardsv1.RecomputeUserResponse, error) {
	if req.GetUserId() == "" {
		return nil, invalid("user_id is required")
	}
	if err := checkIdentifiers("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	rep, err := a.engine.RecomputeUser(ctx, req.GetUserId())
	if err != nil {
		return nil, apiError(err)
	}
	a.log.Info("user recomputed", "user", req.GetUserId(), "corrected", rep.Repaired.Total(), "refreshed", rep.Refreshed)
	return &awardsv1.RecomputeUserResponse{Corrected: int32(rep.Repaired.Total()), Recomputed: int32(rep.Refreshed),
		Drifts: driftsToProto(rep.Drifts), Repaired: driftCountsToProto(rep.Repaired), Pending: int32(rep.Pending)}, nil
}

// SetUserStatus implements AwardsAdminService.SetUserStatus.
func (a *AdminAPI) SetUserStatus(ctx context.Context, req *awardsv1.SetUserStatusRequest) (*awardsv1.SetUserStatusResponse, error) {
	if req.GetUserId() == "" || req.GetActor() == "" {
		return nil, invalid("user_id and actor are required")
	}
	if err := checkIdentifiers("user_id", req.GetUserId(), "actor", req.GetActor()); err != nil {
		return nil, err
	}
	prev, err := a.engine.store.SetUserStatus(ctx, req.GetUserId(), req.GetStatus())
	if err != nil {
		if strings.Contains(err.Error(), "is not valid") {
			return nil, invalid("%v", err)
		}
		return nil, apiError(err)
	}
	a.log.Info("user status set", "user", req.GetUserId(), "status", req.GetStatus(), "previous", prev, "actor", req.GetActor())
	return &awardsv1.SetUserStatusResponse{PreviousStatus: prev}, nil
}

// ListSources implements AwardsAdminService.ListSources.
func (a *AdminAPI) ListSources(ctx context.Context, _ *awardsv1.ListSourcesRequest) (*awardsv1.ListSourcesResponse, error) {
	cfg := a.engine.Snapshot()
	paused, err := a.engine.store.PausedSources(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	names := cfg.Subjects()
	for p := range paused {
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	resp := &awardsv1.ListSourcesResponse{}
	for _, n := range names {
		s := &awardsv1.Source{Name: n, Paused: paused[n]}
		for _, o := range cfg.Objectives(n) {
			s.Objectives = append(s.Objectives, o.Achievement.Config.ID+"/"+o.Key)
		}
		if a.consumers != nil {
			s.Consumer = a.consumers.ConsumerName(n)
			if s.Pending, err = a.consumers.Pending(ctx, n); err != nil {
				return nil, apiError(err)
			}
		}
		resp.Sources = append(resp.Sources, s)
	}
	return resp, nil
}

// PauseSource implements AwardsAdminService.PauseSource. It returns once
// the source's worker has stopped.
func (a *AdminAPI) PauseSource(ctx context.Context, req *awardsv1.PauseSourceRequest) (*awardsv1.PauseSourceResponse, error) {
	if err := a.setPaused(ctx, req.GetSource(), true, req.GetActor()); err != nil {
		return nil, err
	}
	return &awardsv1.PauseSourceResponse{}, nil
}

// ResumeSource implements AwardsAdminService.ResumeSource.
func (a *AdminAPI) ResumeSource(ctx context.Context, req *awardsv1.ResumeSourceRequest) (*awardsv1.ResumeSourceResponse, error) {
	if err := a.setPaused(ctx, req.GetSource(), false, req.GetActor()); err != nil {
		return nil, err
	}
	return &awardsv1.ResumeSourceResponse{}, nil
}

func (a *AdminAPI) setPaused(ctx context.Context, source string, paused bool, actor string) error {
	if source == "" || actor == "" {
		return invalid("source and actor are required")
	}
	if err := checkIdentifiers("source", source, "actor", actor); err != nil {
		return err
	}
	if alias, ok := SourceAlias(source); ok {
		source = alias
	}
	if len(a.engine.schemas.Versions(source)) == 0 {
		return invalid("source %q is not a registered event; sources are %s", source, strings.Join(a.engine.Snapshot().Subjects(), ", "))
	}
	if err := a.engine.store.SetSourcePaused(ctx, source, paused, actor); err != nil {
		return apiError(err)
	}
	a.log.Info("source paused", "source", source, "paused", paused, "actor", actor)
	if a.consumers != nil {
		return apiError(a.consumers.Apply(ctx))
	}
	return nil
}

// Reconcile implements AwardsAdminService.Reconcile.
func (a *AdminAPI) Reconcile(ctx context.Context, req *awardsv1.ReconcileRequest) (*awardsv1.ReconcileResponse, error) {
	if err := checkIdentifiers("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	rep, err := a.engine.ReconcileWith(ctx, ReconcileOptions{UserID: req.GetUserId(), Repair: req.GetRepair()})
	if err != nil {
		return nil, apiError(err)
	}
	if req.GetRepair() && rep.Repaired.Total() > 0 {
		a.log.Warn("reconcile repaired drifts", "user", req.GetUserId(), "repaired", rep.Repaired.Total(),
			"counters", rep.Repaired.Counters, "objective_progress", rep.Repaired.ObjectiveProgress,
			"achievement_progress", rep.Repaired.AchievementProgress, "completion", rep.Repaired.Completion)
	}
	return &awardsv1.ReconcileResponse{Drifts: driftsToProto(rep.Drifts), Found: driftCountsToProto(rep.Found),
		Repaired: driftCountsToProto(rep.Repaired), Users: int32(rep.Users), Pending: int32(rep.Pending),
		InactiveUsers: int32(rep.InactiveUsers)}, nil
}

func driftsToProto(drifts []Drift) []*awardsv1.Drift {
	out := make([]*awardsv1.Drift, len(drifts))
	for i, d := range drifts {
		out[i] = &awardsv1.Drift{UserId: d.UserID, AchievementId: d.AchievementID, ObjectiveKey: d.ObjectiveKey,
			Stored: d.Stored, Recomputed: d.Recomputed, Level: string(d.Level),
			StoredProgress: d.StoredProgress, ExpectedProgress: d.ExpectedProgress,
			StoredCompleted: d.StoredCompleted, ExpectedCompleted: d.ExpectedCompleted,
			StoredGoal: d.StoredGoal, ExpectedGoal: d.ExpectedGoal, Missing: d.Missing, Repaired: d.Repaired}
	}
	return out
}

func driftCountsToProto(c DriftCounts) *awardsv1.DriftCounts {
	return &awardsv1.DriftCounts{Counters: int32(c.Counters), ObjectiveProgress: int32(c.ObjectiveProgress),
		AchievementProgress: int32(c.AchievementProgress), Completion: int32(c.Completion)}
}

// ConfigToProto converts a configuration for the API.
func ConfigToProto(c AchievementConfig) (*awardsv1.AchievementConfig, error) {
	p := &awardsv1.AchievementConfig{Id: c.ID, Title: c.Title, Description: c.Description, ImageUrl: c.ImageURL, Policy: string(c.Policy)}
	if c.StartsAt != nil {
		p.StartsAt = timestamppb.New(*c.StartsAt)
	}
	if c.EndsAt != nil {
		p.EndsAt = timestamppb.New(*c.EndsAt)
	}
	if len(c.Strategy) > 0 {
		p.Strategy = &structpb.Struct{}
		if err := protojson.Unmarshal(c.Strategy, p.Strategy); err != nil {
			return nil, fmt.Errorf("achievement %q strategy: %w", c.ID, err)
		}
	}
	for _, o := range c.Objectives {
		po := &awardsv1.ObjectiveConfig{Key: o.Key, Sources: o.Sources}
		if len(o.Filters) > 0 {
			po.Filters = &structpb.ListValue{}
			if err := protojson.Unmarshal(o.Filters, po.Filters); err != nil {
				return nil, fmt.Errorf("achievement %q objective %q filters: %w", c.ID, o.Key, err)
			}
		}
		if len(o.Rule) > 0 {
			po.Rule = &structpb.Struct{}
			if err := protojson.Unmarshal(o.Rule, po.Rule); err != nil {
				return nil, fmt.Errorf("achievement %q objective %q rule: %w", c.ID, o.Key, err)
			}
		}
		p.Objectives = append(p.Objectives, po)
	}
	return p, nil
}

// ConfigFromProto converts a configuration from the API.
func ConfigFromProto(p *awardsv1.AchievementConfig) (AchievementConfig, error) {
	if p == nil {
		return AchievementConfig{}, errors.New("config is required")
	}
	c := AchievementConfig{ID: p.GetId(), Title: p.GetTitle(), Description: p.GetDescription(), ImageURL: p.GetImageUrl(), Policy: Policy(p.GetPolicy())}
	if p.StartsAt != nil {
		t := p.GetStartsAt().AsTime()
		c.StartsAt = &t
	}
	if p.EndsAt != nil {
		t := p.GetEndsAt().AsTime()
		c.EndsAt = &t
	}
	var err error
	if p.Strategy != nil {
		if c.Strategy, err = protojson.Marshal(p.GetStrategy()); err != nil {
			return c, err
		}
	}
	for _, po := range p.GetObjectives() {
		o := ObjectiveConfig{Key: po.GetKey(), Sources: po.GetSources()}
		if po.Filters != nil {
			if o.Filters, err = protojson.Marshal(po.GetFilters()); err != nil {
				return c, err
			}
		}
		if po.Rule != nil {
			if o.Rule, err = protojson.Marshal(po.GetRule()); err != nil {
				return c, err
			}
		}
		c.Objectives = append(c.Objectives, o)
	}
	return c.Canonical(), nil
}

// StartBackfill implements AwardsAdminService.StartBackfill.
func (a *AdminAPI) StartBackfill(ctx context.Context, req *awardsv1.StartBackfillRequest) (*awardsv1.StartBackfillResponse, error) {
	if a.backfills == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("this awards instance runs no backfills"))
	}
	if req.GetActor() == "" || req.From == nil {
		return nil, invalid("from and actor are required")
	}
	if err := checkIdentifiers("achievement_id", req.GetAchievementId(), "actor", req.GetActor()); err != nil {
		return nil, err
	}
	b, err := a.backfills.Start(ctx, BackfillRequest{AchievementID: req.GetAchievementId(), From: req.GetFrom().AsTime(),
		Notify: req.GetNotify(), Actor: req.GetActor()})
	if err != nil {
		return nil, apiError(err)
	}
	a.log.Info("backfill started", "backfill", b.ID, "achievement", b.AchievementID, "from", b.From, "actor", b.Actor)
	return &awardsv1.StartBackfillResponse{Backfill: backfillToProto(b)}, nil
}

// GetBackfill implements AwardsAdminService.GetBackfill.
func (a *AdminAPI) GetBackfill(ctx context.Context, req *awardsv1.GetBackfillRequest) (*awardsv1.GetBackfillResponse, error) {
	if a.backfills == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("this awards instance runs no backfills"))
	}
	b, err := a.backfills.Get(ctx, req.GetId())
	if err != nil {
		return nil, apiError(err)
	}
	return &awardsv1.GetBackfillResponse{Backfill: backfillToProto(b)}, nil
}

// ListBackfills implements AwardsAdminService.ListBackfills.
func (a *AdminAPI) ListBackfills(ctx context.Context, _ *awardsv1.ListBackfillsRequest) (*awardsv1.ListBackfillsResponse, error) {
	if a.backfills == nil {
		return &awardsv1.ListBackfillsResponse{}, nil
	}
	list, err := a.backfills.List(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	resp := &awardsv1.ListBackfillsResponse{}
	for _, b := range list {
		resp.Backfills = append(resp.Backfills, backfillToProto(b))
	}
	return resp, nil
}

func backfillToProto(b Backfill) *awardsv1.Backfill {
	p := &awardsv1.Backfill{Id: b.ID, AchievementId: b.AchievementID, From: timestamppb.New(b.From), State: b.State,
		Total: b.Total, Done: b.Done, Skipped: b.Skipped, Error: b.Error, Notify: b.Notify, Actor: b.Actor,
		StartedAt: timestamppb.New(b.StartedAt)}
	if b.FinishedAt != nil {
		p.FinishedAt = timestamppb.New(*b.FinishedAt)
	}
	return p
}

// ListNotifications implements AwardsAdminService.ListNotifications.
func (a *AdminAPI) ListNotifications(ctx context.Context, req *awardsv1.ListNotificationsRequest) (*awardsv1.ListNotificationsResponse, error) {
	switch req.GetState() {
	case "", "pending", "delivered", "parked", "suppressed", "skipped":
	default:
		return nil, invalid("state %q is not valid; use pending, delivered, parked, suppressed or skipped", req.GetState())
	}
	size, err := pageSize(max(req.GetPageSize(), 0), maxAdminPageSize) // a negative size means the default here
	if err != nil {
		return nil, err
	}
	var after int64
	if t := req.GetPageToken(); t != "" {
		if err := decodeToken(t, &after); err != nil {
			return nil, invalid("page_token is not valid: %v", err)
		}
	}
	list, err := a.engine.store.ListNotifications(ctx, NotificationFilter{State: req.GetState(), Limit: size + 1, AfterID: after})
	if err != nil {
		return nil, apiError(err)
	}
	resp := &awardsv1.ListNotificationsResponse{}
	if len(list) > size {
		list = list[:size]
		resp.NextPageToken = encodeToken(list[len(list)-1].ID)
	}
	for _, n := range list {
		pn := &awardsv1.Notification{Id: n.ID, Kind: n.Kind, UserId: n.UserID, AchievementId: n.AchievementID, Progress: n.Progress,
			Goal: n.Goal, CreatedAt: timestamppb.New(n.CreatedAt), State: n.State, Attempts: int32(n.Attempts), LastError: n.LastError,
			Backfilled: n.Backfilled}
		if n.DeliveredAt != nil {
			pn.DeliveredAt = timestamppb.New(*n.DeliveredAt)
		}
		resp.Notifications = append(resp.Notifications, pn)
	}
	return resp, nil
}

// RetryNotifications implements AwardsAdminService.RetryNotifications.
func (a *AdminAPI) RetryNotifications(ctx context.Context, req *awardsv1.RetryNotificationsRequest) (*awardsv1.RetryNotificationsResponse, error) {
	if req.GetActor() == "" {
		return nil, invalid("actor is required")
	}
	if err := checkIdentifiers("actor", req.GetActor()); err != nil {
		return nil, err
	}
	n, err := a.engine.store.RetryParked(ctx, req.GetIds())
	if err != nil {
		return nil, apiError(err)
	}
	a.log.Info("parked notifications retried", "retried", n, "ids", req.GetIds(), "actor", req.GetActor())
	return &awardsv1.RetryNotificationsResponse{Retried: int32(n)}, nil
}

// GetNotificationSettings implements AwardsAdminService.GetNotificationSettings.
func (a *AdminAPI) GetNotificationSettings(ctx context.Context, req *awardsv1.GetNotificationSettingsRequest) (*awardsv1.GetNotificationSettingsResponse, error) {
	if strings.TrimSpace(req.GetUserId()) == "" {
		return nil, invalid("user_id is required: the user whose notification settings to read")
	}
	if err := checkIdentifiers("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	ns, err := a.engine.store.NotificationSettings(ctx, req.GetUserId())
	if err != nil {
		return nil, apiError(err)
	}
	return &awardsv1.GetNotificationSettingsResponse{UserId: req.GetUserId(), Settings: notificationSettingsProto(ns)}, nil
}

// SetNotificationSettings implements AwardsAdminService.SetNotificationSettings:
// an operator sets a user's notification settings on their behalf,
// recorded as "operator <actor>".
func (a *AdminAPI) SetNotificationSettings(ctx context.Context, req *awardsv1.SetNotificationSettingsRequest) (*awardsv1.SetNotificationSettingsResponse, error) {
	if strings.TrimSpace(req.GetUserId()) == "" || strings.TrimSpace(req.GetActor()) == "" {
		return nil, invalid("user_id and actor are required: whose settings, and who changes them (recorded with the settings)")
	}
	if err := checkIdentifiers("user_id", req.GetUserId(), "actor", req.GetActor()); err != nil {
		return nil, err
	}
	mode := req.GetSettings().GetMode()
	if problem := notificationModeProblem(mode); problem != "" {
		return nil, invalid("settings.mode %s", problem)
	}
	prev, ns, err := a.engine.store.SetNotificationSettings(ctx, req.GetUserId(), mode, "operator "+req.GetActor())
	if err != nil {
		return nil, apiError(err)
	}
	a.log.Info("notification settings set", "user", req.GetUserId(), "mode", ns.Mode, "previous", prev.Mode, "actor", req.GetActor())
	return &awardsv1.SetNotificationSettingsResponse{Previous: notificationSettingsProto(prev), Settings: notificationSettingsProto(ns)}, nil
}
