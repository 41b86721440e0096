package awards

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus metrics.
type Metrics struct {
	events             *prometheus.CounterVec
	brokenAchievements prometheus.Gauge
	recomputed         prometheus.Counter
	grants             *prometheus.CounterVec
	drifts             *prometheus.CounterVec
}

// NewMetrics returns unregistered metrics; Collectors lists them for a
// registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: "events_total",
			Help: "Events read by the consuming workers, by what became of them: applied (per objective), duplicate, no_user, inactive_user (of a banned or deleted user: applied to the ledger, nothing granted), undecodable.",
		}, []string{"outcome"}),
		brokenAchievements: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: "broken_achievements",
			Help: "Achievements disabled because their configuration cannot run.",
		}),
		recomputed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: "achievements_recomputed_total",
			Help: "User achievements recomputed by the achievements worker.",
		}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: "grants_total",
			Help: "Achievements granted and revoked.",
		}, []string{"kind"}),
		drifts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clickstream", Subsystem: "awards", Name: "drift_total",
			Help: "Drifts the background audit found, by level: counters (≠ the ledger), objective_progress (≠ the rule's progress counter), " +
				"achievement_progress (≠ the strategy over the objectives), completion (≠ the policy). Each sighting counts; any increase is a bug to investigate.",
		}, []string{"level"}),
	}
	for _, l := range DriftLevels {
		m.drifts.WithLabelValues(string(l)) // every level is exported from the start, at 0
	}
	return m
}

// Collectors returns every metric, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.brokenAchievements, m.recomputed, m.grants, m.drifts}
}

func (m *Metrics) observe(r BatchResult) {
	add := func(outcome string, n int) {
		if n > 0 {
			m.events.WithLabelValues(outcome).Add(float64(n))
		}
	}
	add("applied", r.Applied)
	add("duplicate", r.Duplicates)
	add("no_user", r.NoUser)
	add("inactive_user", r.Inactive)
	add("undecodable", r.Undecodable)
}
