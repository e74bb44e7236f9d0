package upstream

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Balance names the algorithm that picks a member for a request.
type Balance string

const (
	// RoundRobin is nginx's smooth weighted round robin: with weights 3:1
	// every 4 requests go a, a, b, a (never a burst of 3 to one member).
	RoundRobin Balance = "round_robin"
	// LeastConn picks the member with the fewest in-flight requests per unit
	// of weight; ties are broken by smooth weighted round robin.
	LeastConn Balance = "least_conn"
	// Random2 draws two distinct members at random (in proportion to their
	// weights) and picks the one with fewer in-flight requests per unit of
	// weight ("the power of two choices").
	Random2 Balance = "random_two"
	// Hash is weighted rendezvous (highest random weight) hashing of the
	// request's escaped path and raw query: a URL goes to the same member
	// while that member is usable, and when a member leaves only the URLs it
	// owned move. The hash (FNV-1a) is stable across processes, so every
	// gateway instance sends a URL to the same member.
	Hash Balance = "hash"
	// First picks the first usable member in the listed order (failover).
	First Balance = "first"
)

// Member is one origin server of a pool.
type Member struct {
	// URL is scheme://host[:port] with scheme http or https; its path must
	// be empty or "/", and it carries no query, fragment or user info.
	URL *url.URL
	// Weight is the member's share of traffic relative to the others.
	// 0 means 1.
	Weight int
	// Backup members take traffic only while no primary member can: every
	// primary is down, ejected, or at its MaxConns (nginx's behaviour).
	Backup bool
	// MaxConns caps the member's in-flight requests (0: no cap). A member at
	// its cap is skipped; when every usable member is at its cap, RoundTrip
	// fails at once with an error wrapping ErrBusy rather than queueing.
	MaxConns int
}

// HealthCheck configures active health checks: a GET of Path on each member
// every Interval, started by Pool.Start. Members start "up".
type HealthCheck struct {
	// Path is the probed path, e.g. "/healthz". Empty disables active checks.
	Path string
	// Interval between the probes of one member. 0 means 5s.
	Interval time.Duration
	// Timeout of one probe. 0 means 2s.
	Timeout time.Duration
	// Rise is the number of consecutive successful probes that mark a down
	// member up. 0 means 2.
	Rise int
	// Fall is the number of consecutive failed probes that mark an up member
	// down. 0 means 3.
	Fall int
	// Status lists the response statuses counted as healthy. nil means
	// 200-399. A transport error or timeout is always a failure.
	Status []int
	// Host is the Host header of the probes. Empty means the member's host.
	Host string
}

// Passive configures passive health checks, counted on real traffic.
//
// A failure is a transport error or a response status in Statuses; a request
// canceled by its caller (its context is done) is not a failure, and errors
// met while the caller reads the response body are not counted.
//
// Failures are counted in a window that opens at the first failure and lasts
// FailTimeout. MaxFails failures in one window eject the member for
// FailTimeout. As in nginx, a success does not reset the count: a member that
// fails every other request is still ejected. The first failure after the
// window has closed opens a new one.
//
// When the sit-out ends, exactly one trial request is sent to the member
// (others skip it meanwhile): a success brings the member back with a clean
// count, a failure ejects it for another FailTimeout.
type Passive struct {
	// MaxFails is the number of failures within FailTimeout that eject a
	// member (nginx max_fails). 0 means 3; negative disables ejection.
	MaxFails int
	// FailTimeout is both the window and how long an ejected member sits
	// out (nginx fail_timeout). 0 means 10s.
	FailTimeout time.Duration
	// Statuses lists the response statuses counted as failures besides
	// transport errors. nil: none, as nginx's default: a client could
	// otherwise eject every member by asking for a URL the origin answers
	// 503. The response is still returned to the caller (and never
	// retried).
	Statuses []int
}

// Options configures a Pool. The zero value of each field is documented; only
// Members is required.
type Options struct {
	// Name identifies the pool in errors and logs.
	Name string
	// Members are the origin servers; at least one.
	Members []Member
	// Balance picks a member for each request. "" means RoundRobin.
	Balance Balance
	// Health configures active health checks (off when Health.Path is "").
	Health HealthCheck
	// Passive configures ejection on failed requests (on by default).
	Passive Passive

	// Transport sends the requests and the probes. If nil, the pool builds
	// (and owns, and Close closes the idle connections of) an
	// *http.Transport with no proxy, HTTP/2 attempted on TLS, and the three
	// fields below. They are ignored when Transport is set.
	Transport http.RoundTripper
	// DialTimeout of the built transport. 0 means 2s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout of the built transport. 0 means 10s.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost of the built transport. 0 means 64.
	MaxIdleConnsPerHost int

	// Retries is how many other members a request is retried on after it
	// failed to connect (a dial error: it never left this process). Only
	// requests whose body can be replayed (nil, http.NoBody, or GetBody set)
	// are retried. 0 means len(Members)-1, at most 2; negative disables.
	Retries int

	// Logger receives member state changes: Warn when a member goes down or
	// is ejected, Info when it comes back. nil discards them.
	Logger *slog.Logger
	// Now is the clock of the passive windows and of MemberStats.LastChange.
	// nil means time.Now.
	Now func() time.Time
}

const (
	defaultInterval              = 5 * time.Second
	defaultTimeout               = 2 * time.Second
	defaultRise                  = 2
	defaultFall                  = 3
	defaultMaxFails              = 3
	defaultFailTimeout           = 10 * time.Second
	defaultDialTimeout           = 2 * time.Second
	defaultResponseHeaderTimeout = 10 * time.Second
	defaultMaxIdleConnsPerHost   = 64
	defaultMaxRetries            = 2
)

// statusSet is a bitset of HTTP statuses 0-599; cheap to test on every
// response and bounded whatever the configuration.
type statusSet [10]uint64

func (s *statusSet) add(code int) { s[code/64] |= 1 << (code % 64) }

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 640 && s[code/64]&(1<<(code%64)) != 0
}

func (s *statusSet) addRange(lo, hi int) {
	for c := lo; c <= hi; c++ {
		s.add(c)
	}
}

func newStatusSet(codes []int) (s statusSet) {
	for _, c := range codes {
		s.add(c)
	}
	return s
}

func validStatuses(field string, codes []int) error {
	for i, c := range codes {
		if c < 100 || c > 599 {
			return fmt.Errorf("upstream: %s[%d]: status %d out of range 100-599", field, i, c)
		}
	}
	return nil
}

// validate checks o and names the offending field in its error.
func (o *Options) validate() error {
	if len(o.Members) == 0 {
		return fmt.Errorf("upstream: Members: at least one member is required")
	}
	seen := make(map[string]int, len(o.Members))
	for i, m := range o.Members {
		field := fmt.Sprintf("Members[%d]", i)
		if err := validURL(m.URL); err != nil {
			return fmt.Errorf("upstream: %s.URL: %w", field, err)
		}
		key := strings.ToLower(m.URL.Scheme + "://" + m.URL.Host)
		if j, dup := seen[key]; dup {
			return fmt.Errorf("upstream: %s.URL: %s repeats Members[%d]", field, key, j)
		}
		seen[key] = i
		if m.Weight < 0 {
			return fmt.Errorf("upstream: %s.Weight: %d is negative", field, m.Weight)
		}
		if m.MaxConns < 0 {
			return fmt.Errorf("upstream: %s.MaxConns: %d is negative", field, m.MaxConns)
		}
	}
	switch o.Balance {
	case "", RoundRobin, LeastConn, Random2, Hash, First:
	default:
		return fmt.Errorf("upstream: Balance: unknown algorithm %q (want %s, %s, %s, %s or %s)",
			o.Balance, RoundRobin, LeastConn, Random2, Hash, First)
	}
	h := o.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return fmt.Errorf("upstream: Health.Path: %q does not start with /", h.Path)
	}
	if h.Interval < 0 || h.Timeout < 0 {
		return fmt.Errorf("upstream: Health.Interval, Health.Timeout: negative duration")
	}
	if h.Rise < 0 || h.Fall < 0 {
		return fmt.Errorf("upstream: Health.Rise, Health.Fall: negative count")
	}
	if err := validStatuses("Health.Status", h.Status); err != nil {
		return err
	}
	if o.Passive.FailTimeout < 0 {
		return fmt.Errorf("upstream: Passive.FailTimeout: negative duration")
	}
	if err := validStatuses("Passive.Statuses", o.Passive.Statuses); err != nil {
		return err
	}
	if o.DialTimeout < 0 || o.ResponseHeaderTimeout < 0 || o.MaxIdleConnsPerHost < 0 {
		return fmt.Errorf("upstream: DialTimeout, ResponseHeaderTimeout, MaxIdleConnsPerHost: negative value")
	}
	return nil
}

func validURL(u *url.URL) error {
	switch {
	case u == nil:
		return fmt.Errorf("missing")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("%q: no host", u.Redacted())
	case u.User != nil:
		return fmt.Errorf("%q: user info is not sent by a RoundTripper", u.Redacted())
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return fmt.Errorf("%q: path must be empty or \"/\", with no query or fragment", u.Redacted())
	}
	return nil
}
