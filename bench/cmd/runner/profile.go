package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// profileMain starts one system (moat or the ceiling) with pprof, warms it,
// puts it under the load of one scenario and saves a CPU profile taken
// during the load and an allocation profile, as
// DIR/SYSTEM-SCENARIO.cpu.prof and .allocs.prof.
func (r *runner) profileMain(systemName, scenarioName, dir string, keep bool) (err error) {
	if systemName != "moat" && systemName != "ceiling" {
		return fmt.Errorf("-profile: %q has no pprof; use moat or ceiling", systemName)
	}
	var sc *scenario
	var g group
	for _, gr := range groups() {
		for i := range gr.scenarios {
			if gr.scenarios[i].name == scenarioName && gr.scenarios[i].args != nil {
				sc, g = &gr.scenarios[i], gr
			}
		}
	}
	if sc == nil {
		return fmt.Errorf("-profile: no wrk scenario %q", scenarioName)
	}
	if !contains(sc.systems, systemName) {
		// make bench-profile asks for moat and the ceiling in any scenario.
		fmt.Printf("%s does not run in %s: no profile\n", systemName, scenarioName)
		return nil
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	r.pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
	cleanup, err := r.setUp()
	if err != nil {
		return err
	}
	defer func() { cleanup(keep || err != nil) }()

	s, err := newSystem(systemName)
	if err != nil {
		return err
	}
	sdir := filepath.Join(r.workDir, "profile", systemName)
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return err
	}
	// The group's own origin (unpinned) and Redis (L2), as in make bench.
	e, stopEnv, err := r.startEnv(g, sdir)
	defer stopEnv()
	if err != nil {
		return err
	}
	base, err := s.Start(r, e, sdir)
	if err != nil {
		return err
	}
	defer s.Stop()
	if g.warm != nil {
		if err := g.warm(r, e, base); err != nil {
			return err
		}
	}
	// The profile covers the middle of the run: wrk runs 4 s longer.
	load := make(chan error, 1)
	var w *wrkResult
	cpu0 := s.Proc().cpuTime()
	go func() {
		var err error
		wl := wrkLoad{cpus: strconv.Itoa(r.loadCPU), threads: 1}
		if e.cpus == "" {
			wl = wrkLoad{threads: 2}
		}
		w, err = r.runWrkWith(wl, base, sc.conns, r.duration+4*time.Second, sc.args...)
		load <- err
	}()
	time.Sleep(2 * time.Second)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	prefix := filepath.Join(dir, systemName+"-"+scenarioName)
	pprofURL := "http://" + r.pprofAddr + "/debug/pprof/"
	if err := fetch(pprofURL+"profile?seconds="+strconv.Itoa(int(r.duration.Seconds())), prefix+".cpu.prof"); err != nil {
		return err
	}
	if err := <-load; err != nil {
		return err
	}
	cpu := s.Proc().cpuTime() - cpu0
	if err := fetch(pprofURL+"allocs", prefix+".allocs.prof"); err != nil {
		return err
	}
	fmt.Printf("%s %s: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %.1f µs of CPU per request (%.0f%% of its core)\n",
		systemName, scenarioName, w.RPS(), w.P50US/1000, w.P99US/1000,
		float64(cpu.Microseconds())/float64(w.Requests), 100*cpu.Seconds()/(float64(w.DurationUS)/1e6))
	fmt.Printf("profiles: %s.cpu.prof %s.allocs.prof\n", prefix, prefix)
	return nil
}

func fetch(url, path string) error {
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
