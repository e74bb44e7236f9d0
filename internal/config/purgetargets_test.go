package config

import (
	"strings"
	"testing"
)

func TestPurgeTargets(t *testing.T) {
	env := map[string]string{"CF_TOKEN": "cf-tok", "FASTLY_KEY": "fk", "AK_CT": "ct", "AK_CS": "cs", "AK_AT": "at"}
	c, err := parse([]byte(`purge_targets:
  - url: https://moat-b.internal/purge
  - type: cloudflare
    zone_id: 023e105f4ecef8ad9ca31a8372d0c353
    api_token: ${CF_TOKEN}
    hosts: [shop.example.com]
    batch_size: 100
  - type: fastly
    service_id: SU1Z0isxPaozGVKXdv0eY
    api_token: ${FASTLY_KEY}
    timeout: 10s
  - type: akamai
    host: akab-xxxx.luna.akamaiapis.net
    client_token: ${AK_CT}
    client_secret: ${AK_CS}
    access_token: ${AK_AT}
    network: staging
    action: invalidate
  - type: varnish
    url: http://127.0.0.1:6081
`), "moat.yaml", parseOptions{lookupEnv: mapEnv(env)})
	if err != nil {
		t.Fatal(err)
	}
	pt := c.PurgeTargets
	if len(pt) != 5 {
		t.Fatalf("got %d targets, want 5", len(pt))
	}
	for i, want := range []string{"moat", "cloudflare", "fastly", "akamai", "varnish"} {
		if got := pt[i].Kind(); got != want {
			t.Errorf("purge_targets[%d] type %q, want %q", i, got, want)
		}
	}
	if cf := pt[1]; cf.APIToken != "cf-tok" || cf.ZoneID != "023e105f4ecef8ad9ca31a8372d0c353" || cf.BatchSize != 100 || len(cf.Hosts) != 1 {
		t.Errorf("cloudflare target %+v", cf)
	}
	if f := pt[2]; f.APIToken != "fk" || f.ServiceID != "SU1Z0isxPaozGVKXdv0eY" || f.Timeout.D().Seconds() != 10 {
		t.Errorf("fastly target %+v", f)
	}
	if a := pt[3]; a.ClientToken != "ct" || a.ClientSecret != "cs" || a.AccessToken != "at" || a.Network != "staging" || a.Action != "invalidate" {
		t.Errorf("akamai target %+v", a)
	}
}

func TestPurgeTargetErrors(t *testing.T) {
	got := parseErrors(t, `purge_targets:
  - type: cloudfare
    url: https://x
  - type: cloudflare
    api_token: tok
    batch_size: 101
    hosts: [https://shop.example.com]
    service_id: s1
  - type: fastly
    api_token: ${MISSING}
  - type: akamai
    host: akab-x.luna.akamaiapis.net
    client_token: ct
    access_token: at
    network: prod
    action: purge
  - type: varnish
  - type: varnish
    url: http://127.0.0.1:6081/purge
    headers: {xkey-purge: x}
  - url: ftp://x
`, nil)
	want := []string{
		`moat.yaml:2: purge_targets[0].type: "cloudfare" is not one of moat, cloudflare, fastly, akamai, varnish (did you mean "cloudflare"?)`,
		`moat.yaml:4: purge_targets[1].zone_id: required for type cloudflare`,
		`moat.yaml:6: purge_targets[1].batch_size: must be between 1 and 100 (0: the default 30), got 101`,
		`moat.yaml:7: purge_targets[1].hosts[0]: want a host name like shop.example.com`,
		`moat.yaml:8: purge_targets[1].service_id: only for type fastly (this target is type cloudflare)`,
		`moat.yaml:10: purge_targets[2].api_token: environment variable MISSING is not set`,
		`moat.yaml:11: purge_targets[3].client_secret: required for type akamai`,
		`moat.yaml:15: purge_targets[3].network: "prod" is not one of production, staging (did you mean "production"?)`,
		`moat.yaml:16: purge_targets[3].action: "purge" is not one of invalidate, delete`,
		`moat.yaml:17: purge_targets[4].url: required for type varnish`,
		`moat.yaml:19: purge_targets[5].url: for type varnish, give only scheme://host:port`,
		`moat.yaml:20: purge_targets[5].headers.xkey-purge: is set by moat for type varnish`,
		`moat.yaml:21: purge_targets[6].url: want an absolute http or https URL`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing problem\n\t%s\ngot:\n\t%s", w, strings.Join(got, "\n\t"))
		}
	}
	if strings.Contains(joined, "tok") && !strings.Contains(joined, "api_token") {
		t.Errorf("a secret is quoted:\n%s", joined)
	}
}
