package cache

import "testing"

func TestSketchCountsUpToFifteen(t *testing.T) {
	var s sketch
	s.resize(1 << 12)
	for i := range 20 {
		s.increment(42)
		if got, want := s.frequency(42), int64(min(i+1, 15)); got != want {
			t.Fatalf("after %d increments: frequency = %d, want %d", i+1, got, want)
		}
	}
	if got := s.frequency(43); got != 0 {
		t.Errorf("frequency of a key never counted = %d, want 0", got)
	}
}

func TestSketchAges(t *testing.T) {
	var s sketch
	s.resize(1 << 12)
	s.period = 100
	for range 10 {
		s.increment(7)
	}
	// 89 other keys, one addition each (collisions aside), bring the
	// additions to the period: every counter is halved.
	for k := uint64(1000); s.additions != 0 && k < 2000; k++ {
		before := s.additions
		s.increment(k)
		if s.additions < before {
			break // aged
		}
	}
	if got := s.frequency(7); got != 5 {
		t.Errorf("frequency after aging = %d, want 5 (10 halved)", got)
	}
	if s.additions >= 100 {
		t.Errorf("additions = %d after aging, want fewer than the period", s.additions)
	}
}

func TestSketchResizeForgetsAndNeverShrinks(t *testing.T) {
	var s sketch
	s.resize(100)
	if got := len(s.table); got != 128 {
		t.Fatalf("table = %d words, want 128 (100 rounded up)", got)
	}
	if got := s.period; got != sketchPeriod*100 {
		t.Errorf("period = %d, want %d", got, sketchPeriod*100)
	}
	s.increment(1)
	s.resize(50)
	if got := len(s.table); got != 128 {
		t.Errorf("table = %d words after a smaller resize, want 128", got)
	}
	if s.frequency(1) != 1 {
		t.Error("a resize that does not grow forgot the counts")
	}
}
