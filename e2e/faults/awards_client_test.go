package faults_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clickstream-dev/clickstream/e2e/harness"
	awardsv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1"
	"github.com/clickstream-dev/clickstream/gen/go/clickstream/awards/v1/awardsv1connect"
)

// startDev starts a `clickstream dev` of the test's own and returns it, its
// ingest API key and the awards admin client with its admin token.
func startDev(t *testing.T) (*harness.Dev, string, adminClient) {
	t.Helper()
	d := harness.NewDev(t, binary)
	d.Start()
	return d, d.Secret("ingest-key"), newAdminClient(d.AwardsURL(), d.Secret("admin-token"))
}

// adminClient is the awards admin and public APIs with the dev stack's
// admin token.
type adminClient struct {
	admin  awardsv1connect.AwardsAdminServiceClient
	public awardsv1connect.AwardsServiceClient
}

func newAdminClient(url, token string) adminClient {
	hc := harness.BearerClient(token)
	return adminClient{admin: awardsv1connect.NewAwardsAdminServiceClient(hc, url), public: awardsv1connect.NewAwardsServiceClient(hc, url)}
}

// navigationPending is how many navigation events the awards consumer has
// not applied yet.
func (a adminClient) navigationPending(ctx context.Context) (uint64, error) {
	resp, err := a.admin.ListSources(ctx, &awardsv1.ListSourcesRequest{})
	if err != nil {
		return 0, err
	}
	for _, s := range resp.GetSources() {
		if s.GetName() == "NavigationTripFinished" {
			return s.GetPending(), nil
		}
	}
	return 0, errors.New("awards lists no NavigationTripFinished source")
}

// navigationSums is the "sum" counter of the navigation objective of
// navigator-10km for each user, and the achievement's progress.
func (a adminClient) navigationSums(ctx context.Context, users []string) (sums, progress map[string]float64, err error) {
	sums, progress = map[string]float64{}, map[string]float64{}
	for _, u := range users {
		resp, err := a.public.ListUserAchievements(ctx, &awardsv1.ListUserAchievementsRequest{UserId: u, PageSize: 200})
		if err != nil {
			return nil, nil, fmt.Errorf("achievements of %s: %w", u, err)
		}
		for _, ua := range resp.GetAchievements() {
			if ua.GetAchievement().GetId() != "navigator-10km" {
				continue
			}
			progress[u] = ua.GetProgress()
			for _, o := range ua.GetObjectives() {
				if o.GetKey() == "navi" {
					sums[u] = o.GetCounters()["sum"]
				}
			}
		}
	}
	return sums, progress, nil
}

// waitApplied waits until the awards consumer has applied every navigation
// event on the bus and the counters equal want.
func (a adminClient) waitApplied(ctx context.Context, t *testing.T, want map[string]float64) map[string]float64 {
	t.Helper()
	users := make([]string, 0, len(want))
	for u := range want {
		users = append(users, u)
	}
	var last string
	for {
		pending, err := a.navigationPending(ctx)
		if err == nil && pending == 0 {
			sums, _, err := a.navigationSums(ctx, users)
			if err == nil && equalSums(sums, want) {
				return sums
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("nothing pending, counters %v", diffSums(sums, want))
			}
		} else if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d navigation events pending", pending)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("awards did not catch up: %v (last: %s)", ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func equalSums(got, want map[string]float64) bool {
	return len(diffSums(got, want)) == 0
}

func diffSums(got, want map[string]float64) []string {
	var out []string
	for u, w := range want {
		if got[u] != w {
			out = append(out, fmt.Sprintf("%s: %v, want %v", u, got[u], w))
		}
	}
	return out
}
