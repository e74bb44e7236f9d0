package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/events/kafka"
	"github.com/moatproxy/moat/internal/events/mapping"
	natsevents "github.com/moatproxy/moat/internal/events/nats"
	"github.com/moatproxy/moat/internal/events/redisevents"
)

// newEvents makes the runner of cfg's event sources (events.sources), or
// nil without any. apply purges through the configuration serving.
func newEvents(cfg *config.Config, log *slog.Logger, apply events.Apply) (*events.Runner, error) {
	e := cfg.Events
	if len(e.Sources) == 0 {
		return nil, nil
	}
	node := nodeName(e.Node)
	r := events.NewRunner(events.Options{Apply: apply, Dedupe: e.Dedupe, Logger: log})
	for i := range e.Sources {
		sc := &e.Sources[i]
		m, errs := mapping.Compile(sc.MappingRules())
		if len(errs) > 0 {
			return nil, fmt.Errorf("server: events.sources[%d] (%s): %w", i, sc.Name, errs[0])
		}
		slog := log.With("source", sc.Name)
		var src events.Source
		var err error
		switch {
		case sc.Kafka != nil:
			src, err = kafka.New(*sc.Kafka, sc.Name, node, slog)
		case sc.NATS != nil:
			src, err = natsevents.NewCore(*sc.NATS, sc.Name, slog)
		case sc.JetStream != nil:
			src, err = natsevents.NewJetStream(*sc.JetStream, sc.Name, node, slog)
		case sc.RedisPubSub != nil:
			src, err = redisevents.NewPubSub(*sc.RedisPubSub, sc.Name, slog)
		case sc.RedisStream != nil:
			src, err = redisevents.NewStream(*sc.RedisStream, sc.Name, node, slog)
		default:
			err = fmt.Errorf("no transport")
		}
		if err != nil {
			return nil, fmt.Errorf("server: events.sources[%d] (%s): %w", i, sc.Name, err)
		}
		r.Add(sc.Name, sc.Kind(), m, src)
	}
	return r, nil
}

var notNodeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// nodeName is events.node, or the host name made fit for it.
func nodeName(configured string) string {
	if configured != "" {
		return configured
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "moat"
	}
	n := notNodeName.ReplaceAllString(host, "-")
	return n[:min(len(n), 64)]
}

// applyEvent purges through the configuration serving now.
func (s *Server) applyEvent(ctx context.Context, p gateway.Purge) (gateway.PurgeResult, error) {
	return s.cur.Load().gw.ApplyEvent(ctx, p)
}
