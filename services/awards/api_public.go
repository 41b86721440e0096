package awards

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
)

// PublicAPI implements clickstream.awards.v1.AwardsService, the API apps use,
// for grpc-go (the in-process REST gateway) and Connect alike.
type PublicAPI struct {
	awardsv1.UnimplementedAwardsServiceServer
	store    PublicStore
	verifier TokenVerifier
}

var (
	_ awardsv1.AwardsServiceServer         = (*PublicAPI)(nil)
	_ awardsv1connect.AwardsServiceHandler = (*PublicAPI)(nil)
)

// Page sizes of the public lists.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// NewPublicAPI returns the public awards API over store. verifier checks
// the bearer tokens of the caller's own calls (ListMyAchievements, the
// notification settings); nil leaves those calls unavailable (the other
// calls need no token).
func NewPublicAPI(store PublicStore, verifier TokenVerifier) *PublicAPI {
	return &PublicAPI{store: store, verifier: verifier}
}

// ListMyAchievements implements AwardsService.ListMyAchievements: the user
// is the sub claim of the bearer token.
func (p *PublicAPI) ListMyAchievements(ctx context.Context, req *awardsv1.ListMyAchievementsRequest) (*awardsv1.ListMyAchievementsResponse, error) {
	userID, err := p.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	page, err := readPage(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	if err := p.requireActive(ctx, userID, connect.CodePermissionDenied); err != nil {
		return nil, err
	}
	list, next, err := p.userAchievements(ctx, userID, page)
	if err != nil {
		return nil, err
	}
	return &awardsv1.ListMyAchievementsResponse{UserId: userID, Achievements: list, NextPageToken: next}, nil
}

// ListUserAchievements implements AwardsService.ListUserAchievements: a
// user's public profile, for active users the service has seen only. A
// blank or malformed user id is InvalidArgument, an unknown, banned or
// deleted user NotFound.
func (p *PublicAPI) ListUserAchievements(ctx context.Context, req *awardsv1.ListUserAchievementsRequest) (*awardsv1.ListUserAchievementsResponse, error) {
	userID := req.GetUserId()
	if strings.TrimSpace(userID) == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("user_id is required (got %q): pass the id of the user whose profile to show", userID))
	}
	if err := checkIdentifiers("user_id", userID); err != nil {
		return nil, err
	}
	page, err := readPage(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	if err := p.requireActive(ctx, userID, connect.CodeNotFound); err != nil {
		return nil, err
	}
	seen, err := p.store.UserSeen(ctx, userID)
	if err != nil {
		return nil, internalError(ctx, "look up user", err, "user_id", userID)
	}
	if !seen {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("user %q is not known here: no event of theirs was counted yet, so they have no profile", userID))
	}
	list, next, err := p.userAchievements(ctx, userID, page)
	if err != nil {
		return nil, err
	}
	return &awardsv1.ListUserAchievementsResponse{UserId: userID, Achievements: list, NextPageToken: next}, nil
}

// ListAchievements implements AwardsService.ListAchievements: the
// catalogue of active achievements.
func (p *PublicAPI) ListAchievements(ctx context.Context, req *awardsv1.ListAchievementsRequest) (*awardsv1.ListAchievementsResponse, error) {
	page, err := readPage(req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	want := page.Size
	page.Size++ // one more tells whether there is a next page
	list, err := p.store.Achievements(ctx, page)
	if err != nil {
		return nil, internalError(ctx, "list achievements", err)
	}
	resp := &awardsv1.ListAchievementsResponse{}
	if len(list) > want {
		list = list[:want]
		resp.NextPageToken = encodePageToken(list[want-1].ID)
	}
	for _, a := range list {
		resp.Achievements = append(resp.Achievements, achievementProto(a))
	}
	return resp, nil
}

// GetMyNotificationSettings implements
// AwardsService.GetMyNotificationSettings: the user is the sub claim of the
// bearer token.
func (p *PublicAPI) GetMyNotificationSettings(ctx context.Context, _ *awardsv1.GetMyNotificationSettingsRequest) (*awardsv1.GetMyNotificationSettingsResponse, error) {
	userID, err := p.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := p.store.NotificationSettings(ctx, userID)
	if err != nil {
		return nil, internalError(ctx, "read notification settings", err, "user_id", userID)
	}
	return &awardsv1.GetMyNotificationSettingsResponse{UserId: userID, Settings: notificationSettingsProto(ns)}, nil
}

// UpdateMyNotificationSettings implements
// AwardsService.UpdateMyNotificationSettings. Any authenticated user may
// opt out, whatever their status: stopping notifications is always
// allowed.
func (p *PublicAPI) UpdateMyNotificationSettings(ctx context.Context, req *awardsv1.UpdateMyNotificationSettingsRequest) (*awardsv1.UpdateMyNotificationSettingsResponse, error) {
	userID, err := p.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	mode := req.GetSettings().GetMode()
	if problem := notificationModeProblem(mode); problem != "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("settings.mode %s", problem))
	}
	prev, ns, err := p.store.SetNotificationSettings(ctx, userID, mode, "user")
	if err != nil {
		return nil, internalError(ctx, "store notification settings", err, "user_id", userID)
	}
	if prev.Mode != ns.Mode {
		slog.InfoContext(ctx, "notification settings changed", "user_id", userID, "from", prev.Mode, "to", ns.Mode, "by", "user")
	}
	return &awardsv1.UpdateMyNotificationSettingsResponse{UserId: userID, Settings: notificationSettingsProto(ns)}, nil
}

// userAchievements reads one page of a user's achievements and the token
// of the next page ("" at the end).
func (p *PublicAPI) userAchievements(ctx context.Context, userID string, page Page) ([]*awardsv1.UserAchievement, string, error) {
	want := page.Size
	page.Size++
	list, err := p.store.UserAchievements(ctx, userID, page)
	if err != nil {
		return nil, "", internalError(ctx, "list user achievements", err, "user_id", userID)
	}
	next := ""
	if len(list) > want {
		list = list[:want]
		next = encodePageToken(list[want-1].Achievement.ID)
	}
	out := make([]*awardsv1.UserAchievement, len(list))
	for i, ua := range list {
		out[i] = userAchievementProto(ua)
	}
	return out, next, nil
}

// authenticate returns the user of the call's bearer token.
func (p *PublicAPI) authenticate(ctx context.Context) (string, error) {
	if p.verifier == nil {
		return "", connect.NewError(connect.CodeUnimplemented, errors.New(
			"this server does not accept user tokens: start awards with --awards-jwt-secret or --awards-jwt-public-key"))
	}
	token, err := bearerToken(ctx)
	if err != nil {
		return "", connect.NewError(connect.CodeUnauthenticated, err)
	}
	userID, err := p.verifier.VerifyToken(token)
	if err != nil {
		return "", connect.NewError(connect.CodeUnauthenticated, err)
	}
	if problem := identifierProblem(userID); problem != "" {
		return "", connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("the bearer token's sub claim %s: it cannot name a user", problem))
	}
	return userID, nil
}

// requireActive fails with code unless the user is active.
func (p *PublicAPI) requireActive(ctx context.Context, userID string, code connect.Code) error {
	status, err := p.store.UserStatus(ctx, userID)
	if err != nil {
		return internalError(ctx, "read user status", err, "user_id", userID)
	}
	if status != "active" {
		return connect.NewError(code, fmt.Errorf("user %q is %s: only active users have achievements", userID, status))
	}
	return nil
}

// bearerToken returns the token of the call's "Authorization: Bearer"
// header. Connect handlers (gRPC, gRPC-Web, Connect) see the HTTP headers
// in the call info; the in-process REST gateway passes the Authorization
// header on as the gRPC metadata "authorization".
func bearerToken(ctx context.Context) (string, error) {
	var values []string
	if info, ok := connect.CallInfoForHandlerContext(ctx); ok {
		values = info.RequestHeader().Values("Authorization")
	} else if md, ok := metadata.FromIncomingContext(ctx); ok {
		values = md.Get("authorization")
	}
	switch len(values) {
	case 0:
		return "", errors.New("no bearer token: send Authorization: Bearer <JWT>")
	case 1:
	default:
		return "", errors.New("more than one Authorization header: send exactly one Authorization: Bearer <JWT>")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the Authorization header is not a bearer token: send Authorization: Bearer <JWT>")
	}
	return strings.TrimSpace(token), nil
}

// pageTokenPrefix versions the page token format.
const pageTokenPrefix = "a1:"

// readPage checks a request's page size and token.
func readPage(size int32, token string) (Page, error) {
	n, err := pageSize(size, maxPageSize)
	if err != nil {
		return Page{}, err
	}
	page := Page{Size: n}
	if token == "" {
		return page, nil
	}
	after, err := decodePageToken(token)
	if err != nil {
		return Page{}, connect.NewError(connect.CodeInvalidArgument, err)
	}
	page.After = after
	return page, nil
}

// pageSize is a request's page size: defaultPageSize for 0, at most max,
// InvalidArgument when negative.
func pageSize(size int32, max int) (int, error) {
	switch {
	case size < 0:
		return 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("page_size is %d; pass 1 to %d, or 0 for %d", size, max, defaultPageSize))
	case size == 0:
		return defaultPageSize, nil
	}
	return min(int(size), max), nil
}

// encodePageToken returns the opaque token of the page after achievement id.
func encodePageToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + id))
}

// decodePageToken returns the achievement id a page token continues after.
func decodePageToken(token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	id, ok := strings.CutPrefix(string(raw), pageTokenPrefix)
	if err != nil || !ok || id == "" || identifierProblem(id) != "" {
		return "", errors.New("page_token is not valid: pass the next_page_token of the previous response unchanged")
	}
	return id, nil
}

func achievementProto(a Achievement) *awardsv1.Achievement {
	return &awardsv1.Achievement{
		Id:          a.ID,
		Title:       a.Title,
		Description: a.Description,
		ImageUrl:    a.ImageURL,
		Goal:        a.Goal,
		Policy:      string(a.Policy),
		StartsAt:    timestampOrNil(a.StartsAt),
		EndsAt:      timestampOrNil(a.EndsAt),
		Objectives:  a.Objectives,
	}
}

func userAchievementProto(ua UserAchievement) *awardsv1.UserAchievement {
	pa := &awardsv1.UserAchievement{
		Achievement: achievementProto(ua.Achievement),
		Progress:    ua.Progress,
		Completed:   ua.Completed(),
		CompletedAt: timestampOrNil(ua.CompletedAt),
		Percent:     ua.Percent(),
		Remaining:   ua.Remaining(),
	}
	if !ua.StartedAt.IsZero() {
		pa.StartedAt = timestamppb.New(ua.StartedAt)
	}
	for _, o := range ua.Objectives {
		counters := o.Counters
		if counters == nil {
			counters = map[string]float64{}
		}
		pa.Objectives = append(pa.Objectives, &awardsv1.ObjectiveProgress{Key: o.Key, Progress: o.Progress, Counters: counters})
	}
	return pa
}

func notificationSettingsProto(ns NotificationSettings) *awardsv1.NotificationSettings {
	return &awardsv1.NotificationSettings{Mode: ns.Mode, UpdatedAt: timestampOrNil(ns.UpdatedAt), UpdatedBy: ns.UpdatedBy}
}

func timestampOrNil(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
