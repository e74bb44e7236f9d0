package config

import "time"

// Volatility is a named bundle of freshness settings for data that changes
// at a given pace. A route selects one with `volatility:`; any setting the
// route also gives itself wins over the bundle's.
type Volatility struct {
	TTL                  Duration `yaml:"ttl"`
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate"`
	StaleIfError         Duration `yaml:"stale_if_error"`
	TTLJitter            Percent  `yaml:"ttl_jitter"`
	EarlyRefresh         float64  `yaml:"early_refresh"`
	RefreshAhead         bool     `yaml:"refresh_ahead"`
	Coalesce             bool     `yaml:"coalesce"`
}

// Freshness are the freshness settings a route or a volatility override
// may set; nil fields are not set. Routes and VolatilityOverride inline it,
// so the keys are the same in both places.
type Freshness struct {
	StaleWhileRevalidate *Duration `yaml:"stale_while_revalidate"`
	StaleIfError         *Duration `yaml:"stale_if_error"`
	TTLJitter            *Percent  `yaml:"ttl_jitter"`
	EarlyRefresh         *float64  `yaml:"early_refresh"`
	RefreshAhead         *bool     `yaml:"refresh_ahead"`
	Coalesce             *bool     `yaml:"coalesce"`
}

// applyTo sets on v what f sets.
func (f *Freshness) applyTo(v *Volatility) {
	if f.StaleWhileRevalidate != nil {
		v.StaleWhileRevalidate = *f.StaleWhileRevalidate
	}
	if f.StaleIfError != nil {
		v.StaleIfError = *f.StaleIfError
	}
	if f.TTLJitter != nil {
		v.TTLJitter = *f.TTLJitter
	}
	if f.EarlyRefresh != nil {
		v.EarlyRefresh = *f.EarlyRefresh
	}
	if f.RefreshAhead != nil {
		v.RefreshAhead = *f.RefreshAhead
	}
	if f.Coalesce != nil {
		v.Coalesce = *f.Coalesce
	}
}

// VolatilityOverride changes some settings of a preset (top-level
// `volatility:`); unset fields keep the preset's value. A name that is not
// a built-in preset defines a new class, starting from all zeros with
// coalescing on.
type VolatilityOverride struct {
	TTL       *Duration `yaml:"ttl"`
	Freshness `yaml:",inline"`
}

// Presets are the built-in volatility classes. The rationale for each is in
// docs/config.md ("Volatility classes").
var Presets = map[string]Volatility{
	// Reference data that changes with deploys or by hand: long TTL, long
	// stale windows; refreshing early costs little.
	"static": {TTL: Duration(24 * time.Hour), StaleWhileRevalidate: Duration(time.Hour), StaleIfError: Duration(7 * 24 * time.Hour),
		TTLJitter: 0.1, EarlyRefresh: 1, Coalesce: true},
	// Catalog-like data edited a few times a day: minutes of TTL, a minute of
	// SWR, hot keys refreshed ahead.
	"semi-dynamic": {TTL: Duration(5 * time.Minute), StaleWhileRevalidate: Duration(time.Minute), StaleIfError: Duration(time.Hour),
		TTLJitter: 0.1, EarlyRefresh: 1, RefreshAhead: true, Coalesce: true},
	// Prices, stock, feeds: seconds of TTL, short SWR; predictive refresh
	// keeps hot keys from ever expiring under traffic.
	"dynamic": {TTL: Duration(30 * time.Second), StaleWhileRevalidate: Duration(10 * time.Second), StaleIfError: Duration(10 * time.Minute),
		TTLJitter: 0.1, EarlyRefresh: 1, RefreshAhead: true, Coalesce: true},
	// Scores, quotes: one second of TTL to absorb bursts, no stale serving
	// but on origin error, no jitter (expiry is already short); coalescing
	// is the point.
	"realtime": {TTL: Duration(time.Second), StaleIfError: Duration(30 * time.Second), Coalesce: true},
}

// VolatilityClass returns the effective settings of class name: the preset,
// changed by the config's top-level overrides. ok is false for an unknown
// name.
func (c *Config) VolatilityClass(name string) (v Volatility, ok bool) {
	v, ok = Presets[name]
	o, has := c.Volatility[name]
	if !ok && !has {
		return Volatility{}, false
	}
	if !ok {
		v = Volatility{Coalesce: true}
	}
	if o.TTL != nil {
		v.TTL = *o.TTL
	}
	o.Freshness.applyTo(&v)
	return v, true
}

// Effective returns the freshness settings of route r: its volatility
// class (if any) with the route's own settings on top.
func (c *Config) Effective(r *Route) Volatility {
	v := Volatility{Coalesce: true}
	if r.Volatility != "" {
		if cv, ok := c.VolatilityClass(r.Volatility); ok {
			v = cv
		}
	}
	if r.TTL > 0 {
		v.TTL = r.TTL
	}
	r.Freshness.applyTo(&v)
	return v
}
