// Package deploy holds no Go code, only the Grafana dashboard and the
// Prometheus alert rules for moat. Its test keeps them honest: well-formed,
// complete, and querying only metrics moat exports (the names are read from
// internal/metrics, so renaming a metric there fails this test).
package deploy

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/moat-alerts.yml"
	rulesTestFile = "prometheus/moat-alerts_test.yml"
	dashboardFile = "grafana/moat-dashboard.json"
	docsFile      = "../docs/observability.md"
)

// futureMetrics are queried before the component that exports them exists.
var futureMetrics = map[string]string{}

// requiredAlerts are the alerts issue 7 and the runbook in
// docs/observability.md promise.
var requiredAlerts = []string{
	"MoatMissRatioHigh", "MoatMemoryNearBudget", "MoatLockContentionHigh", "MoatEvictionSpike",
	"MoatRedisBreakerOpen", "MoatOriginErrors", "MoatPurgeFanoutFailing",
}

var (
	metricNameInSource = regexp.MustCompile(`"(moat_[a-z0-9_]+)"`)
	histogramInSource  = regexp.MustCompile(`HistogramOpts\{\s*Name:\s*"(moat_[a-z0-9_]+)"`)
	metricNameInExpr   = regexp.MustCompile(`\b(?:moat|go|process)_[a-z0-9_]+\b`)
	descName           = regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)
)

// exportedMetrics returns every metric name a moat server exports: moat's
// own, read from the internal/metrics sources (histograms with their
// _bucket, _sum and _count series), and those of the Go and process
// collectors the server registers.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../internal/metrics/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in internal/metrics (err %v)", err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricNameInSource.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		for _, m := range histogramInSource.FindAllStringSubmatch(string(src), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
	}
	if !names["moat_requests_total"] || !names["moat_request_duration_seconds_bucket"] {
		t.Fatalf("reading internal/metrics found %d names, not moat_requests_total and moat_request_duration_seconds_bucket: has the way metrics are declared changed?", len(names))
	}
	descs := make(chan *prometheus.Desc, 256)
	go func() {
		collectors.NewGoCollector().Describe(descs)
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}).Describe(descs)
		close(descs)
	}()
	for d := range descs {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// checkExpr reports the metric names expr uses that moat does not export.
func checkExpr(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	for _, name := range metricNameInExpr.FindAllString(expr, -1) {
		if exported[name] {
			continue
		}
		if why, ok := futureMetrics[name]; ok {
			t.Logf("%s: %s is not exported yet: %s", where, name, why)
			continue
		}
		t.Errorf("%s: metric %s is not exported by moat (expr %q)", where, name, expr)
	}
	if strings.Contains(expr, "histogram_quantile") && (!strings.Contains(expr, "_bucket") || !strings.Contains(expr, "le")) {
		t.Errorf("%s: histogram_quantile needs the _bucket series summed by le: %q", where, expr)
	}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		t.Errorf("%s: unbalanced brackets in %q", where, expr)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	exported := exportedMetrics(t)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				if r.Alert == "" {
					t.Fatalf("rule %q: want alerting rules only", r.Record)
				}
				if seen[r.Alert] {
					t.Errorf("alert %s defined twice", r.Alert)
				}
				seen[r.Alert] = true
				if strings.TrimSpace(r.Expr) == "" {
					t.Error("no expr")
				}
				if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
					t.Errorf("for: got %q, want a positive duration (err %v)", r.For, err)
				}
				if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
					t.Errorf("labels.severity: got %q, want critical, warning or info", s)
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("annotations.%s: missing", a)
					}
				}
				checkExpr(t, r.Alert, r.Expr, exported)
			})
		}
	}
	for _, name := range requiredAlerts {
		if !seen[name] {
			t.Errorf("alert %s: missing", name)
		}
	}
}

// TestAlertRulesWithPromtool parses the rules with Prometheus's own parser
// and runs their unit tests (alerts fire and stay silent where they
// should), when promtool is installed (Debian: apt-get install prometheus).
func TestAlertRulesWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus); the rules were checked by TestAlertRules only")
	}
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(rulesTestFile)},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(rulesFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Definition string          `json:"definition"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

const dsRef = "${DS_PROMETHEUS}"

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Errorf("%s: trailing data after the dashboard", dashboardFile)
	}
	if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" {
		t.Errorf("got schemaVersion %d, uid %q, title %q; want a schemaVersion of Grafana 9.4 or later (36+), a uid and a title", d.SchemaVersion, d.UID, d.Title)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs: got %+v, want one Prometheus data source input DS_PROMETHEUS", d.Inputs)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type + " " + v.Definition
	}
	if got, want := vars["route"], "query label_values(moat_requests_total, route)"; got != want {
		t.Errorf("template variable route: got %q, want %q", got, want)
	}

	exported := exportedMetrics(t)
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	ids := map[int]string{}
	// Grafana's grid is 24 columns wide; panels must not overlap.
	cells := map[[2]int]string{}
	queried := map[string]bool{}
	for _, p := range all {
		where := p.Title
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d not unique (also %q)", where, p.ID, prev)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", where, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Errorf("panel %q overlaps %q at (%d, %d)", where, other, x, y)
				}
				cells[[2]int{x, y}] = where
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("panel %q: no description (say what the figure means)", where)
		}
		if p.Datasource == nil || p.Datasource.UID != dsRef {
			t.Errorf("panel %q: datasource must be %s", where, dsRef)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", where)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != dsRef {
				t.Errorf("panel %q query %s: datasource must be %s", where, tg.RefID, dsRef)
			}
			checkExpr(t, where+" "+tg.RefID, tg.Expr, exported)
			for _, name := range metricNameInExpr.FindAllString(tg.Expr, -1) {
				queried[strings.TrimSuffix(name, "_bucket")] = true
			}
		}
	}
	// Everything the issue asks to see at a glance is on the dashboard.
	for _, name := range []string{
		"moat_requests_total", "moat_request_duration_seconds", "moat_origin_requests_total",
		"moat_origin_duration_seconds", "moat_origin_errors_total", "moat_cache_bytes", "moat_cache_max_bytes",
		"moat_cache_entries", "moat_cache_evictions_total", "moat_coalesced_waiters_total",
		"moat_lock_contention_total", "moat_refreshes_total", "moat_invalidations_total",
		"moat_invalidated_entries_total", "moat_purge_fanout_total",
	} {
		if !queried[name] {
			t.Errorf("no panel queries %s", name)
		}
	}
}

// TestDocsNameEveryMetricAndAlert keeps docs/observability.md in step with
// internal/metrics and the rules.
func TestDocsNameEveryMetricAndAlert(t *testing.T) {
	raw, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for name := range exportedMetrics(t) {
		if !strings.HasPrefix(name, "moat_") || strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			continue
		}
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("%s does not document metric %s", docsFile, name)
		}
	}
	for _, name := range requiredAlerts {
		if !strings.Contains(doc, name) {
			t.Errorf("%s does not explain alert %s", docsFile, name)
		}
	}
}
