package payscore

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcome label values of payscore_api_request_duration_seconds.
const (
	OutcomeOK           = "ok"
	OutcomeAPIError     = "api_error"
	OutcomeBadSignature = "bad_signature"
	OutcomeTransport    = "transport"
	OutcomeValidation   = "validation"
)

// Call label values, one per API call.
const (
	CallPreAuthorize = "preauthorize"
	CallQuery        = "query"
	CallTerminate    = "terminate"
)

// metrics holds the client's collectors. They always exist (so the client
// never checks for nil); they are registered only when a Registerer is given.
type metrics struct {
	duration *prometheus.HistogramVec
	attempts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "payscore_api_request_duration_seconds",
			Help:    "Duration of WeChat Pay Score API calls, retries included, by call and outcome.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 16},
		}, []string{"call", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payscore_api_attempts_total",
			Help: "HTTP attempts sent to WeChat Pay, by call and answer status (HTTP code, timeout or network).",
		}, []string{"call", "status"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.attempts, err = register(reg, m.attempts); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or reuses the identical collector already registered
// (two clients on one registry, e.g. after a configuration reload).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
