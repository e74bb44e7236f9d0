package server

import (
	"reflect"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/fanout"
)

// fanoutTargets converts cfg's purge_targets into fan-out targets, in order.
func fanoutTargets(cfg *config.Config) []fanout.Target {
	var targets []fanout.Target
	for _, t := range cfg.PurgeTargets {
		ft := fanout.Target{Type: t.Type, URL: t.URL, Headers: t.Headers, Timeout: t.Timeout.D()}
		switch t.Kind() {
		case fanout.TypeCloudflare:
			ft.Cloudflare = fanout.Cloudflare{ZoneID: t.ZoneID, APIToken: t.APIToken, Hosts: t.Hosts, BatchSize: t.BatchSize}
		case fanout.TypeFastly:
			ft.Fastly = fanout.Fastly{ServiceID: t.ServiceID, APIToken: t.APIToken}
		case fanout.TypeAkamai:
			ft.Akamai = fanout.Akamai{
				Host: t.Host, ClientToken: t.ClientToken, ClientSecret: t.ClientSecret, AccessToken: t.AccessToken,
				Network: t.Network, Action: t.Action,
			}
		}
		targets = append(targets, ft)
	}
	return targets
}

// samePurgeTargets reports whether two configurations fan purges out to the
// same targets with the same settings, so that a reload keeps the running
// fan-out (and its queues) instead of replacing it.
func samePurgeTargets(a, b *config.Config) bool {
	return reflect.DeepEqual(fanoutTargets(a), fanoutTargets(b))
}
