package cachekey

import "testing"

func TestLanguage(t *testing.T) {
	enDeFr := []string{"en", "de", "fr"}
	tests := []struct {
		name      string
		header    string
		supported []string
		want      string
	}{
		{"issue_example", "de-DE,de;q=0.9", enDeFr, "de"},
		{"plain", "de", enDeFr, "de"},
		{"equivalent_spelling", " DE-de ;Q=1.000 , de ; q=0.900 ", enDeFr, "de"},
		{"absent_is_any", "", enDeFr, "en"},
		{"star_is_any", "*", enDeFr, "en"},
		{"only_invalid_is_any", "en_US", enDeFr, "en"},
		{"no_match", "ja", enDeFr, ""},
		{"no_match_below_zero", "ja, en;q=0", enDeFr, ""},
		{"weights", "en;q=0.5, fr;q=0.8, de;q=0.7", enDeFr, "fr"},
		{"equal_weights_header_order", "fr, de", enDeFr, "fr"},
		{"lookup_truncates", "fr-CA, en;q=0.5", enDeFr, "fr"},
		{"lookup_drops_singleton", "zh-Hant-CN-x-private", []string{"en", "zh-Hant"}, "zh-Hant"},
		{"exact_beats_truncation", "de-CH", []string{"de", "de-CH"}, "de-CH"},
		{"filtering", "de", []string{"en", "de-AT", "de-CH"}, "de-AT"},
		{"filtering_needs_subtag_boundary", "d", []string{"en", "de"}, ""},
		{"result_as_written", "DE", []string{"en", "De"}, "De"},
		{"star_skips_excluded", "*, en;q=0", enDeFr, "de"},
		{"star_zero_keeps_listed", "fr, *;q=0", enDeFr, "fr"},
		{"excluded_from_truncation", "de-CH, de;q=0, en;q=0.1", enDeFr, "en"},
		{"lower_ranges_after_higher_star", "*;q=0.5, fr", enDeFr, "fr"},
		{"invalid_q_ignored", "de;q=2, fr;q=0.5", enDeFr, "fr"},
		{"too_many_q_digits", "de;q=0.5555, fr;q=0.5", enDeFr, "fr"},
		{"empty_supported", "en", nil, ""},
		{"many_ranges", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,fr", enDeFr, "fr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Language(tt.header, tt.supported); got != tt.want {
				t.Errorf("Language(%q, %q) = %q, want %q", tt.header, tt.supported, got, tt.want)
			}
		})
	}
}

func TestMediaType(t *testing.T) {
	jsonHTML := []string{"application/json", "text/html"}
	tests := []struct {
		name      string
		header    string
		supported []string
		want      string
	}{
		{"exact", "text/html", jsonHTML, "text/html"},
		{"browser", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", jsonHTML, "text/html"},
		{"any", "*/*", jsonHTML, "application/json"},
		{"absent_is_any", "", jsonHTML, "application/json"},
		{"only_invalid_is_any", "json", jsonHTML, "application/json"},
		{"none", "image/png", jsonHTML, ""},
		{"type_wildcard", "text/*", []string{"application/json", "text/plain"}, "text/plain"},
		{"specific_zero_excludes", "application/json;q=0, */*", jsonHTML, "text/html"},
		{"explicit_beats_wildcard_tie", "application/json, */*", []string{"text/html", "application/json"}, "application/json"},
		{"most_specific_range_sets_weight", "application/*;q=0.5, application/json;q=0.1", []string{"application/json", "application/xml"}, "application/xml"},
		{"weights", "application/json;q=0.4, text/html;q=0.6", jsonHTML, "text/html"},
		{"params_ignored", "application/json; charset=utf-8", jsonHTML, "application/json"},
		{"params_after_q_ignored", "text/html;q=0.5;ext=1, application/json;q=0.4", jsonHTML, "text/html"},
		{"case_ignored", "TEXT/HTML", jsonHTML, "text/html"},
		{"supported_params_ignored", "application/json", []string{"application/json; charset=utf-8"}, "application/json; charset=utf-8"},
		{"invalid_range_ignored", "*/json, text/html;q=0.1", jsonHTML, "text/html"},
		{"all_zero", "*/*;q=0", jsonHTML, ""},
		{"duplicate_takes_highest", "text/html;q=0.1, text/html;q=0.9, application/json;q=0.5", jsonHTML, "text/html"},
		{"empty_supported", "*/*", nil, ""},
		{"invalid_supported_skipped", "*/*", []string{"nonsense", "text/html"}, "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MediaType(tt.header, tt.supported); got != tt.want {
				t.Errorf("MediaType(%q, %q) = %q, want %q", tt.header, tt.supported, got, tt.want)
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gzip", "gzip"},
		{"  Gzip, BR ", "gzip,br"},
		{"a ,\tb,c", "a,b,c"},
		{"a  b", "a  b"},
		{"", ""},
		{" , ", ","},
		{"Ünicode", "Ünicode"},
	}
	for _, tt := range tests {
		if got := HeaderValue(tt.in); got != tt.want {
			t.Errorf("HeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNegotiationAllocs(t *testing.T) {
	supported := []string{"en", "de", "fr"}
	media := []string{"application/json", "text/html"}
	for name, f := range map[string]func(){
		"Language":    func() { Language("de-DE,de;q=0.9,en;q=0.8", supported) },
		"MediaType":   func() { MediaType("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", media) },
		"HeaderValue": func() { HeaderValue("gzip,br") },
	} {
		if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
			t.Errorf("%s allocates %v times, want 0", name, allocs)
		}
	}
}
