package fanout

import (
	"fmt"
	"slices"
	"testing"
)

func TestQueue(t *testing.T) {
	q := newQueue(3)
	ids := func() []string {
		var out []string
		for i := range q.len() {
			out = append(out, q.buf[(q.head+i)%len(q.buf)].id)
		}
		return out
	}
	var dropped []bool
	for i := range 5 {
		dropped = append(dropped, q.push(job{id: fmt.Sprint(i)}))
	}
	if want := []bool{false, false, false, true, true}; !slices.Equal(dropped, want) {
		t.Errorf("push dropped %v, want %v", dropped, want)
	}
	if got, want := ids(), []string{"2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("queue holds %v, want %v (oldest dropped)", got, want)
	}
	if j, ok := q.pop(); !ok || j.id != "2" {
		t.Errorf("pop = %q, %v; want 2, true", j.id, ok)
	}
	q.push(job{id: "5"})
	if got, want := ids(), []string{"3", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("queue holds %v, want %v", got, want)
	}
	if n := q.clear(); n != 3 || q.len() != 0 {
		t.Errorf("clear = %d, len %d; want 3, 0", n, q.len())
	}
	for i, j := range q.buf {
		if j.id != "" || j.p != nil {
			t.Errorf("slot %d still holds %+v after clear", i, j)
		}
	}
	if _, ok := q.pop(); ok {
		t.Error("pop on an empty queue reported a job")
	}
}
