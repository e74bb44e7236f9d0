package warm

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressRedraw is the interval between redraws of the progress line.
const progressRedraw = 100 * time.Millisecond

// progressLine redraws one line, such as
//
//	warm  45% [#########...........]  4500/10000  500/s  ok 4490  failed 10  hit 0  eta 11s
//
// from its own goroutine until stop, which draws the final line and a
// newline. Only that goroutine writes until stop returns.
type progressLine struct {
	out     io.Writer
	w       *warmer
	quit    chan struct{}
	exited  chan struct{}
	lastLen int
}

func startProgress(out io.Writer, w *warmer) *progressLine {
	p := &progressLine{out: out, w: w, quit: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		tick := time.NewTicker(progressRedraw)
		defer tick.Stop()
		p.draw(w.done(), w.ok.Load(), w.failed.Load(), w.hits.Load(), time.Since(w.start), "")
		for {
			select {
			case <-p.quit:
				return
			case <-tick.C:
				p.draw(w.done(), w.ok.Load(), w.failed.Load(), w.hits.Load(), time.Since(w.start), "")
			}
		}
	}()
	return p
}

// stop ends the redraws and draws the final line from s. Nil-safe.
func (p *progressLine) stop(s Summary, canceled bool) {
	if p == nil {
		return
	}
	close(p.quit)
	<-p.exited
	end := "in " + roundDuration(s.Duration).String()
	if canceled {
		end = "canceled after " + roundDuration(s.Duration).String()
	}
	p.draw(s.Total, s.OK, s.Failed, s.Hits, s.Duration, end)
	io.WriteString(p.out, "\n")
}

func (p *progressLine) draw(done, ok, failed, hits int64, elapsed time.Duration, end string) {
	const width = 20
	planned := p.w.planned
	frac := 1.0
	if planned > 0 {
		frac = float64(done) / float64(planned)
	}
	filled := int(frac * width)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	if end == "" {
		end = "eta -"
		if rate > 0 {
			end = "eta " + roundDuration(time.Duration(float64(planned-done)/rate*float64(time.Second))).String()
		}
	}
	line := fmt.Sprintf("warm %3d%% [%s%s] %d/%d  %.0f/s  ok %d  failed %d  hit %d  %s",
		int(frac*100), strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done, planned, rate, ok, failed, hits, end)
	pad := max(p.lastLen-len(line), 0)
	p.lastLen = len(line)
	fmt.Fprintf(p.out, "\r%s%s", line, strings.Repeat(" ", pad))
}

func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}
