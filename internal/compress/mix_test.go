package compress

import (
	"sync"
	"testing"
)

// Accept-Encoding values of typical clients.
const (
	browser    = "gzip, deflate, br, zstd" // Chrome, Edge, Firefox 126+
	oldBrowser = "gzip, deflate, br"       // Safari, older Firefox
	goClient   = "gzip"                    // net/http's transparent decompression, also Java's and Python's defaults
	curl       = ""                        // curl without --compressed, health checks
	zstdOnly   = "zstd"
	anything   = "*"
)

// cohort is count clients sending one Accept-Encoding value.
type cohort struct {
	header string
	count  int
}

// observeInterleaved feeds the cohorts to m round-robin, as concurrent
// clients would arrive.
func observeInterleaved(m *Mix, cohorts ...cohort) {
	left := make([]int, len(cohorts))
	remaining := 0
	for i, c := range cohorts {
		left[i] = c.count
		remaining += c.count
	}
	for remaining > 0 {
		for i, c := range cohorts {
			if left[i] > 0 {
				m.Observe(c.header)
				left[i]--
				remaining--
			}
		}
	}
}

func TestMixChoose(t *testing.T) {
	tests := []struct {
		name    string
		cohorts []cohort
		want    Encoding
	}{
		{"no_observations", nil, Identity},
		{"below_min_samples", []cohort{{browser, MixMinSamples - 1}}, Identity},
		{"at_min_samples", []cohort{{browser, MixMinSamples}}, Brotli},
		{"browsers", []cohort{{browser, 100}}, Brotli},
		{"old_browsers", []cohort{{oldBrowser, 100}}, Brotli},
		{"go_clients", []cohort{{goClient, 100}}, Gzip},
		{"star", []cohort{{anything, 100}}, Brotli},
		{"browsers_and_go_clients", []cohort{{browser, 50}, {goClient, 50}}, Gzip},
		{"browsers_few_curl", []cohort{{browser, 95}, {curl, 5}}, Brotli},
		{"browsers_at_universal_threshold", []cohort{{browser, 90}, {curl, 10}}, Brotli},
		{"browsers_majority", []cohort{{browser, 70}, {curl, 30}}, Brotli},
		{"browsers_at_majority_threshold", []cohort{{browser, 200}, {curl, 100}}, Brotli},
		{"browsers_below_majority", []cohort{{browser, 65}, {curl, 35}}, Identity},
		{"half_curl", []cohort{{browser, 50}, {curl, 50}}, Identity},
		{"curl_only", []cohort{{curl, 100}}, Identity},
		{"gzip_universal_beats_br_majority", []cohort{{browser, 80}, {goClient, 20}}, Gzip},
		{"zstd_majority", []cohort{{zstdOnly, 70}, {goClient, 30}}, Zstd},
		{"widest_majority_wins", []cohort{{oldBrowser, 40}, {goClient, 35}, {curl, 25}}, Gzip},
		{"refusals_count", []cohort{{"br;q=0, gzip", 100}}, Gzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Mix
			observeInterleaved(&m, tt.cohorts...)
			if got := m.Choose(); got != tt.want {
				t.Errorf("Choose() = %q after %v (stats %+v), want %q", got, tt.cohorts, m.Stats(), tt.want)
			}
		})
	}
}

func TestMixStats(t *testing.T) {
	var m Mix
	observeInterleaved(&m, cohort{browser, 3}, cohort{oldBrowser, 2}, cohort{goClient, 4}, cohort{curl, 1})
	want := MixStats{Observed: 10, Brotli: 5, Zstd: 3, Gzip: 9}
	if got := m.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestMixForgets(t *testing.T) {
	var m Mix
	observeInterleaved(&m, cohort{curl, 10 * MixWindow})
	if got := m.Choose(); got != Identity {
		t.Fatalf("Choose() = %q after curl only, want identity", got)
	}
	for i := range 2 * MixWindow {
		m.Observe(browser)
		if s := m.Stats(); s.Observed >= MixWindow {
			t.Fatalf("Stats().Observed = %d after %d browsers, want < %d", s.Observed, i+1, MixWindow)
		}
	}
	if got := m.Choose(); got != Brotli {
		t.Errorf("Choose() = %q after %d browsers, want br (stats %+v)", got, 2*MixWindow, m.Stats())
	}
}

func TestMixHalvingKeepsShares(t *testing.T) {
	var m Mix
	for range MixWindow {
		observeInterleaved(&m, cohort{browser, 3}, cohort{goClient, 1})
	}
	s := m.Stats()
	if s.Observed < MixWindow/2 || s.Observed >= MixWindow {
		t.Fatalf("Stats().Observed = %d, want within [%d, %d)", s.Observed, MixWindow/2, MixWindow)
	}
	share := float64(s.Brotli) / float64(s.Observed)
	if share < 0.70 || share > 0.80 {
		t.Errorf("br share = %.3f (stats %+v), want about 0.75", share, s)
	}
}

func TestMixConcurrent(t *testing.T) {
	var m Mix
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5000 {
				if (g+i)%20 == 0 {
					m.Observe(goClient)
				} else {
					m.Observe(browser)
				}
				if i%100 == 0 {
					m.Choose()
				}
			}
		})
	}
	wg.Wait()
	s := m.Stats()
	if s.Observed >= MixWindow || s.Brotli > s.Observed || s.Zstd > s.Observed || s.Gzip > s.Observed {
		t.Fatalf("inconsistent stats after concurrent observations: %+v", s)
	}
	if s.Gzip != s.Observed {
		t.Errorf("Stats() = %+v: every client accepts gzip, want Gzip == Observed", s)
	}
	if got := m.Choose(); got != Brotli {
		t.Errorf("Choose() = %q with 95%% browsers (stats %+v), want br", got, s)
	}
}
