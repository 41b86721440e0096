package registry

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
)

// VolumeQuery asks for the volumes deviations are judged on: the window
// [At-Window, At) and the same window on each of the BaselineDays days
// before.
type VolumeQuery struct {
	At           time.Time
	Window       time.Duration
	BaselineDays int
}

// VersionVolume is what one event version received from one environment in
// the window and in its trailing baseline.
type VersionVolume struct {
	EventID     uint32
	Version     uint32
	MessageName string
	Status      Lifecycle
	Environment string
	// Accepted and Rejected count the events in the window.
	Accepted int64
	Rejected int64
	// TopReason is the most frequent rejection reason in the window.
	TopReason string
	// BaselineTotal counts the events in the same window on every baseline
	// day together.
	BaselineTotal int64
}

// DeviationRules say when a version deviates.
type DeviationRules struct {
	// Window is the length of the window, for messages.
	Window time.Duration
	// RejectionThreshold is the rejection rate above which a version
	// deviates technically, once it has MinRejectionVolume events.
	RejectionThreshold float64
	MinRejectionVolume int64
	// BaselineDays is the number of days the baseline averages over.
	BaselineDays int
	// VolumeTolerance is the relative distance from the baseline that is
	// still normal: 0.5 accepts from half to one and a half times it.
	VolumeTolerance float64
	// MinBaseline ignores the volume of versions whose baseline is lower,
	// where a few events more or less are noise.
	MinBaseline int64
}

// Default deviation rules.
const (
	defaultWindowMinutes      = 60
	defaultRejectionThreshold = 0.05
	defaultMinRejectionVolume = 20
	defaultBaselineDays       = 7
	defaultVolumeTolerance    = 0.5
	defaultMinBaseline        = 10
	maxWindowMinutes          = 24 * 60
	maxBaselineDays           = 90
)

// DeviationKind tells a technical deviation from a logical one.
type DeviationKind int

// Deviation kinds.
const (
	// RejectionRate: more rejected events than the threshold allows.
	RejectionRate DeviationKind = iota + 1
	// VolumeDrop: far fewer events than the baseline.
	VolumeDrop
	// VolumeSpike: far more events than the baseline.
	VolumeSpike
	// Stopped: no events in the window although the baseline has them.
	Stopped
)

func (k DeviationKind) String() string {
	switch k {
	case RejectionRate:
		return "rejection rate"
	case VolumeDrop:
		return "volume drop"
	case VolumeSpike:
		return "volume spike"
	case Stopped:
		return "stopped"
	}
	return "deviation " + strconv.Itoa(int(k))
}

// Deviation is one event version behaving unlike itself in one environment.
type Deviation struct {
	Kind        DeviationKind
	EventID     uint32
	Version     uint32
	MessageName string
	Environment string
	// Observed is a rejection rate or a count in the window.
	Observed float64
	// Expected is the threshold or the baseline Observed is compared with.
	Expected float64
	// Message says what happened, for a person.
	Message string
}

// FindDeviations judges each volume by the rules: a rejection rate above
// the threshold is technical; a window far from the version's own baseline,
// or empty while the baseline is not, is logical. Retired versions are
// expected to stop, so only their rejection rate is judged. The deviations
// come ordered by event, version, environment and kind.
func FindDeviations(volumes []VersionVolume, r DeviationRules) []Deviation {
	var out []Deviation
	window := fmt.Sprintf("in the last %d min", int(r.Window/time.Minute))
	for _, v := range volumes {
		who := fmt.Sprintf("%s from %s", shortName(v.MessageName), v.Environment)
		d := Deviation{EventID: v.EventID, Version: v.Version, MessageName: v.MessageName, Environment: v.Environment}
		total := v.Accepted + v.Rejected
		if rejected := rate(v.Rejected, total); total >= r.MinRejectionVolume && rejected > r.RejectionThreshold {
			d := d
			d.Kind, d.Observed, d.Expected = RejectionRate, rejected, r.RejectionThreshold
			d.Message = fmt.Sprintf("%s: %s of %s rejected %s, above the %s threshold",
				who, percent(rejected), events(total), window, percent(r.RejectionThreshold))
			if v.TopReason != "" {
				d.Message += "; most often " + v.TopReason
			}
			out = append(out, d)
		}
		if r.BaselineDays <= 0 || v.Status == LifecycleRetired {
			continue
		}
		baseline := float64(v.BaselineTotal) / float64(r.BaselineDays)
		if baseline < float64(r.MinBaseline) || baseline == 0 {
			continue
		}
		against := fmt.Sprintf("its %d-day baseline of %s", r.BaselineDays, thousands(int64(math.Round(baseline))))
		observed := float64(total)
		d.Observed, d.Expected = observed, baseline
		switch {
		case total == 0:
			d.Kind = Stopped
			d.Message = fmt.Sprintf("%s: no events %s, against %s; it stopped arriving", who, window, against)
		case observed < (1-r.VolumeTolerance)*baseline:
			d.Kind = VolumeDrop
			d.Message = fmt.Sprintf("%s: %s %s, %s below %s",
				who, events(total), window, percent((baseline-observed)/baseline), against)
		case observed > (1+r.VolumeTolerance)*baseline:
			d.Kind = VolumeSpike
			d.Message = fmt.Sprintf("%s: %s %s, %s above %s",
				who, events(total), window, percent((observed-baseline)/baseline), against)
		default:
			continue
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b Deviation) int {
		return cmp.Or(cmp.Compare(a.EventID, b.EventID), cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// ListDeviations implements RegistryService.ListDeviations.
func (s *Service) ListDeviations(ctx context.Context, req *registryv1.ListDeviationsRequest) (*registryv1.ListDeviationsResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	q, rules, err := deviationQuery(req, time.Now())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	volumes, err := s.reads.VersionVolumes(ctx, q)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	resp := &registryv1.ListDeviationsResponse{}
	for _, d := range FindDeviations(volumes, rules) {
		resp.Deviations = append(resp.Deviations, &registryv1.Deviation{
			Kind:        deviationKindToProto(d.Kind),
			EventId:     d.EventID,
			Version:     d.Version,
			MessageName: d.MessageName,
			Environment: d.Environment,
			Observed:    d.Observed,
			Expected:    d.Expected,
			Message:     d.Message,
		})
	}
	return resp, nil
}

// deviationQuery validates req and fills its defaults; the window ends at
// the start of the current minute unless req says when.
func deviationQuery(req *registryv1.ListDeviationsRequest, now time.Time) (VolumeQuery, DeviationRules, error) {
	q := VolumeQuery{At: now.Truncate(time.Minute)}
	r := DeviationRules{
		RejectionThreshold: defaultRejectionThreshold,
		MinRejectionVolume: defaultMinRejectionVolume,
		BaselineDays:       defaultBaselineDays,
		VolumeTolerance:    defaultVolumeTolerance,
		MinBaseline:        defaultMinBaseline,
	}
	if req.GetAt() != nil {
		if err := req.GetAt().CheckValid(); err != nil {
			return q, r, fmt.Errorf("at: %w", err)
		}
		q.At = req.GetAt().AsTime()
	}
	minutes := req.GetWindowMinutes()
	switch {
	case minutes < 0 || minutes > maxWindowMinutes:
		return q, r, fmt.Errorf("window_minutes: %d is out of range; use 1 to %d (default %d)", minutes, maxWindowMinutes, defaultWindowMinutes)
	case minutes == 0:
		minutes = defaultWindowMinutes
	}
	q.Window = time.Duration(minutes) * time.Minute
	r.Window = q.Window
	if t := req.GetRejectionThreshold(); t != 0 {
		if !(t > 0 && t < 1) {
			return q, r, fmt.Errorf("rejection_threshold: %v is not a rate; use a value between 0 and 1, e.g. 0.05 for 5%%", t)
		}
		r.RejectionThreshold = t
	}
	if d := req.GetBaselineDays(); d != 0 {
		if d < 0 || d > maxBaselineDays {
			return q, r, fmt.Errorf("baseline_days: %d is out of range; use 1 to %d (default %d)", d, maxBaselineDays, defaultBaselineDays)
		}
		r.BaselineDays = int(d)
	}
	q.BaselineDays = r.BaselineDays
	if t := req.GetVolumeTolerance(); t != 0 {
		if !(t > 0) || math.IsInf(t, 0) {
			return q, r, fmt.Errorf("volume_tolerance: %v must be above 0, e.g. 0.5 for half to one and a half times the baseline", t)
		}
		r.VolumeTolerance = t
	}
	if m := req.GetMinBaseline(); m != 0 {
		if m < 0 {
			return q, r, fmt.Errorf("min_baseline: %d is negative; use 1 or more (default %d)", m, defaultMinBaseline)
		}
		r.MinBaseline = m
	}
	return q, r, nil
}

func deviationKindToProto(k DeviationKind) registryv1.DeviationKind {
	switch k {
	case RejectionRate:
		return registryv1.DeviationKind_DEVIATION_KIND_REJECTION_RATE
	case VolumeDrop:
		return registryv1.DeviationKind_DEVIATION_KIND_VOLUME_DROP
	case VolumeSpike:
		return registryv1.DeviationKind_DEVIATION_KIND_VOLUME_SPIKE
	case Stopped:
		return registryv1.DeviationKind_DEVIATION_KIND_STOPPED
	}
	return registryv1.DeviationKind_DEVIATION_KIND_UNSPECIFIED
}

// percent formats a ratio for a person: "31%", and "5.3%" below 10%.
func percent(ratio float64) string {
	p := math.Round(ratio*1000) / 10
	if p < 10 && p != math.Trunc(p) {
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}

// events says how many events: "1 event", "1,204 events".
func events(n int64) string {
	if n == 1 {
		return "1 event"
	}
	return thousands(n) + " events"
}

// thousands formats n with thousands separators: "1,204".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
