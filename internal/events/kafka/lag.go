package kafka

import (
	"cmp"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// refreshLag updates Status's Lag every lagEvery until ctx is done: one
// ListOffsets request per partition leader, nothing when the node has no
// partitions.
func (s *Source) refreshLag(ctx context.Context, cl *kgo.Client) {
	every := cmp.Or(s.lagEvery, lagEvery)
	adm := kadm.NewClient(cl)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.updateLag(ctx, adm, cl, max(every, time.Second))
	}
}

// updateLag sets the lag: over this node's partitions, the high watermark
// minus the next offset to deliver (or, before a record of the partition
// was polled, the group's committed offset; a partition with neither
// counts 0: this node starts it at its end).
func (s *Source) updateLag(ctx context.Context, adm *kadm.Client, cl *kgo.Client, timeout time.Duration) {
	parts, member := s.st.positions()
	if !member {
		s.st.setLag(-1)
		return
	}
	if len(parts) == 0 {
		s.st.setLag(0)
		return
	}
	var topics []string
	seen := make(map[string]bool)
	for tp := range parts {
		if !seen[tp.topic] {
			seen[tp.topic] = true
			topics = append(topics, tp.topic)
		}
	}
	listCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ends, err := adm.ListEndOffsets(listCtx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.st.fail(err)
		}
		return
	}
	committed := cl.CommittedOffsets()
	var lag int64
	for tp, next := range parts {
		end, ok := ends.Lookup(tp.topic, tp.partition)
		if !ok {
			continue
		}
		if next < 0 {
			c, ok := committed[tp.topic][tp.partition]
			if !ok {
				continue
			}
			next = c.Offset
		}
		lag += max(end.Offset-next, 0)
	}
	s.st.setLag(lag)
}
