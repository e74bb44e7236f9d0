package fanout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	ok := Target{URL: "https://api.cdn.example/purge"}
	cases := []struct {
		name    string
		opts    Options
		want    string // substring of the error; "" for none
		wantErr error
	}{
		{name: "valid", opts: Options{Targets: []Target{ok, {
			URL: "http://127.0.0.1:8080/purge?zone=z", Timeout: time.Second,
			Headers: map[string]string{"Authorization": "Bearer t", "X-Api-Key": "k"},
		}}}},
		{name: "no_targets", opts: Options{}},
		{name: "url_required", opts: Options{Targets: []Target{ok, {}}}, want: "targets[1].url: required", wantErr: ErrInvalidTarget},
		{name: "url_relative", opts: Options{Targets: []Target{{URL: "/purge"}}}, want: "targets[0].url: must be an absolute", wantErr: ErrInvalidTarget},
		{name: "url_scheme", opts: Options{Targets: []Target{{URL: "ftp://h/purge"}}}, want: "targets[0].url: must be an absolute", wantErr: ErrInvalidTarget},
		{name: "url_no_host", opts: Options{Targets: []Target{{URL: "https:///purge"}}}, want: "targets[0].url: has no host", wantErr: ErrInvalidTarget},
		{name: "url_fragment", opts: Options{Targets: []Target{{URL: "https://h/p#x"}}}, want: "targets[0].url: must not have a #fragment", wantErr: ErrInvalidTarget},
		{name: "url_unparsable", opts: Options{Targets: []Target{{URL: "https://h/%zz?token=SECRET"}}}, want: "targets[0].url: not a valid URL", wantErr: ErrInvalidTarget},
		{name: "timeout_negative", opts: Options{Targets: []Target{{URL: ok.URL, Timeout: -time.Second}}}, want: "targets[0].timeout: must not be negative", wantErr: ErrInvalidTarget},
		{name: "header_name", opts: Options{Targets: []Target{{URL: ok.URL, Headers: map[string]string{"Bad Name": "v"}}}}, want: "targets[0].headers.Bad Name: not a valid header name", wantErr: ErrInvalidTarget},
		{name: "header_reserved", opts: Options{Targets: []Target{{URL: ok.URL, Headers: map[string]string{"idempotency-key": "v"}}}}, want: "targets[0].headers.idempotency-key: is set by moat", wantErr: ErrInvalidTarget},
		{name: "header_line_break", opts: Options{Targets: []Target{{URL: ok.URL, Headers: map[string]string{"X-A": "SECRET\r\nX-B: 1"}}}}, want: "targets[0].headers.X-A: value contains a line break", wantErr: ErrInvalidTarget},
		{name: "header_unexpanded_env", opts: Options{Targets: []Target{{URL: ok.URL, Headers: map[string]string{"Authorization": "Bearer ${CDN_TOKEN}"}}}}, want: "targets[0].headers.Authorization: value contains an unexpanded ${...} reference", wantErr: ErrInvalidTarget},
		{name: "cdn_valid", opts: Options{Targets: []Target{
			{Type: TypeCloudflare, Cloudflare: Cloudflare{ZoneID: "z", APIToken: "t", Hosts: []string{"shop.example.com"}, BatchSize: 100}},
			{Type: TypeFastly, Fastly: Fastly{ServiceID: "s", APIToken: "t"}},
			{Type: TypeAkamai, Akamai: Akamai{Host: "akab-x.luna.akamaiapis.net", ClientToken: "c", ClientSecret: "s", AccessToken: "a", Network: "staging"}},
			{Type: TypeVarnish, URL: "http://127.0.0.1:6081"},
		}}},
		{name: "type_unknown", opts: Options{Targets: []Target{{Type: "cloudfare", URL: ok.URL}}}, want: `targets[0].type: unknown type "cloudfare"`, wantErr: ErrInvalidTarget},
		{name: "varnish_url_required", opts: Options{Targets: []Target{{Type: TypeVarnish}}}, want: "targets[0].url: required for type varnish", wantErr: ErrInvalidTarget},
		{name: "varnish_url_path", opts: Options{Targets: []Target{{Type: TypeVarnish, URL: "http://v:6081/purge"}}}, want: "targets[0].url: for type varnish, give only scheme://host:port", wantErr: ErrInvalidTarget},
		{name: "cloudflare_zone_required", opts: Options{Targets: []Target{{Type: TypeCloudflare, Cloudflare: Cloudflare{APIToken: "SECRET"}}}}, want: "targets[0].zone_id: required for type cloudflare", wantErr: ErrInvalidTarget},
		{name: "cloudflare_batch", opts: Options{Targets: []Target{{Type: TypeCloudflare, Cloudflare: Cloudflare{ZoneID: "z", APIToken: "SECRET", BatchSize: 101}}}}, want: "targets[0].batch_size: must be between 1 and 100", wantErr: ErrInvalidTarget},
		{name: "cloudflare_host", opts: Options{Targets: []Target{{Type: TypeCloudflare, Cloudflare: Cloudflare{ZoneID: "z", APIToken: "SECRET", Hosts: []string{"https://shop"}}}}}, want: "targets[0].hosts[0]: want a host name", wantErr: ErrInvalidTarget},
		{name: "cloudflare_authorization_reserved", opts: Options{Targets: []Target{{Type: TypeCloudflare, Headers: map[string]string{"Authorization": "SECRET"}, Cloudflare: Cloudflare{ZoneID: "z", APIToken: "SECRET"}}}}, want: "targets[0].headers.Authorization: is set by moat", wantErr: ErrInvalidTarget},
		{name: "fastly_token_unexpanded", opts: Options{Targets: []Target{{Type: TypeFastly, Fastly: Fastly{ServiceID: "s", APIToken: "${FASTLY_SECRET}"}}}}, want: "targets[0].api_token: contains an unexpanded ${...} reference", wantErr: ErrInvalidTarget},
		{name: "akamai_secret_required", opts: Options{Targets: []Target{{Type: TypeAkamai, Akamai: Akamai{Host: "h", ClientToken: "SECRET", AccessToken: "SECRET"}}}}, want: "targets[0].client_secret: required for type akamai", wantErr: ErrInvalidTarget},
		{name: "akamai_network", opts: Options{Targets: []Target{{Type: TypeAkamai, Akamai: Akamai{Host: "h", ClientToken: "SECRET", ClientSecret: "SECRET", AccessToken: "SECRET", Network: "prod"}}}}, want: `targets[0].network: "prod" is not one of production, staging`, wantErr: ErrInvalidTarget},
		{name: "queue_size_negative", opts: Options{QueueSize: -1}, want: "QueueSize must not be negative", wantErr: ErrInvalidOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := New(c.opts)
			if c.want == "" {
				if err != nil {
					t.Fatalf("New = %v, want no error", err)
				}
				f.Close(t.Context())
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.wantErr) {
				t.Fatalf("New error = %v, want one containing %q and wrapping %v", err, c.want, c.wantErr)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
}

func TestTargetValidate(t *testing.T) {
	err := Target{URL: "https://h/p", Headers: map[string]string{"Host": "x"}}.Validate()
	if got, want := err.Error(), "fanout: invalid purge target: headers.Host: is set by moat and cannot be configured"; got != want {
		t.Errorf("Validate = %q, want %q", got, want)
	}
	if err := (Target{URL: "https://h/p"}).Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

func TestDisplayURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@cdn.example:8443/v1/purge?token=x#f": "https://cdn.example:8443/v1/purge",
		"http://h": "http://h",
	} {
		if got := displayURL(in); got != want {
			t.Errorf("displayURL(%q) = %q, want %q", in, got, want)
		}
	}
}
