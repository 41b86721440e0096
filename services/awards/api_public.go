package awards

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
)

// PublicAPI implements clickstream.awards.v1.AwardsService, the API apps use,
// for grpc-go (the in-process REST gateway) and Connect alike.
type PublicAPI struct {
	awardsv1.UnimplementedAwardsServiceServer
	store Store
}

var (
	_ awardsv1.AwardsServiceServer         = (*PublicAPI)(nil)
	_ awardsv1connect.AwardsServiceHandler = (*PublicAPI)(nil)
)

// NewPublicAPI returns the public awards API over store.
func NewPublicAPI(store Store) *PublicAPI {
	return &PublicAPI{store: store}
}

// ListUserAchievements implements AwardsService.ListUserAchievements.
func (p *PublicAPI) ListUserAchievements(ctx context.Context, req *awardsv1.ListUserAchievementsRequest) (*awardsv1.ListUserAchievementsResponse, error) {
	if req.GetUserId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("user_id is required"))
	}
	list, err := p.store.UserAchievements(ctx, req.GetUserId())
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &awardsv1.ListUserAchievementsResponse{}
	for _, ua := range list {
		pa := &awardsv1.UserAchievement{
			Achievement: &awardsv1.Achievement{
				Id:          ua.Achievement.ID,
				Title:       ua.Achievement.Title,
				Description: ua.Achievement.Description,
				ImageUrl:    ua.Achievement.ImageURL,
				Goal:        ua.Achievement.Goal,
			},
			Progress:  ua.Progress,
			Completed: ua.Completed(),
		}
		if !ua.StartedAt.IsZero() {
			pa.StartedAt = timestamppb.New(ua.StartedAt)
		}
		if ua.CompletedAt != nil {
			pa.CompletedAt = timestamppb.New(*ua.CompletedAt)
		}
		resp.Achievements = append(resp.Achievements, pa)
	}
	return resp, nil
}
