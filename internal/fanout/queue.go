package fanout

// job is one purge waiting for one target. p is a copy of the caller's purge, shared by all
// targets' jobs of the purge and never written.
type job struct {
	id string
	p  *Purge
}

// queue is a bounded FIFO of jobs: a ring buffer allocated once, so a target that is down for
// hours holds at most cap jobs however many purges arrive. It is not safe for concurrent use;
// the worker's mutex guards it.
type queue struct {
	buf  []job
	head int // index of the oldest job
	n    int // number of jobs
}

func newQueue(capacity int) queue { return queue{buf: make([]job, capacity)} }

func (q *queue) len() int { return q.n }

// push appends j. When the queue is full it first removes the oldest job and reports
// dropped = true.
func (q *queue) push(j job) (dropped bool) {
	if q.n == len(q.buf) {
		q.pop()
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = j
	q.n++
	return dropped
}

// pop removes and returns the oldest job.
func (q *queue) pop() (job, bool) {
	if q.n == 0 {
		return job{}, false
	}
	j := q.buf[q.head]
	q.buf[q.head] = job{} // let the purge be collected
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return j, true
}

// clear removes every job and returns how many there were.
func (q *queue) clear() int {
	n := q.n
	clear(q.buf)
	q.head, q.n = 0, 0
	return n
}
