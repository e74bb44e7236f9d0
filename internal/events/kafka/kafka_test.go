package kafka

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/moatproxy/moat/internal/config"
)

func TestNew(t *testing.T) {
	valid := config.KafkaSource{Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"catalog"}}
	tests := []struct {
		name      string
		edit      func(*config.KafkaSource)
		node      string
		wantField string // "" for a valid config
		wantGroup string
	}{
		{name: "default_group", wantGroup: "moat-catalog"},
		{name: "group", edit: func(k *config.KafkaSource) { k.Group = "cache" }, wantGroup: "cache"},
		{name: "per_node", edit: func(k *config.KafkaSource) { k.PerNode = true }, node: "n1", wantGroup: "moat-catalog-n1"},
		{name: "per_node_group", edit: func(k *config.KafkaSource) { k.PerNode, k.Group = true, "cache" }, node: "n1", wantGroup: "cache-n1"},
		{name: "scram", edit: func(k *config.KafkaSource) { k.Username, k.Password, k.Mechanism = "u", "p", "SCRAM-SHA-512" }, wantGroup: "moat-catalog"},
		{name: "no_brokers", edit: func(k *config.KafkaSource) { k.Brokers = nil }, wantField: "brokers"},
		{name: "empty_broker", edit: func(k *config.KafkaSource) { k.Brokers = []string{""} }, wantField: "brokers[0]"},
		{name: "no_topics", edit: func(k *config.KafkaSource) { k.Topics = nil }, wantField: "topics"},
		{name: "empty_topic", edit: func(k *config.KafkaSource) { k.Topics = []string{"a", ""} }, wantField: "topics[1]"},
		{name: "per_node_without_node", edit: func(k *config.KafkaSource) { k.PerNode = true }, wantField: "per_node"},
		{name: "start", edit: func(k *config.KafkaSource) { k.Start = "beginning" }, wantField: "start"},
		{name: "password_alone", edit: func(k *config.KafkaSource) { k.Password = "p" }, wantField: "username"},
		{name: "mechanism", edit: func(k *config.KafkaSource) { k.Username, k.Password, k.Mechanism = "u", "p", "gssapi" }, wantField: "mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			s, err := New(cfg, "catalog", tt.node, slog.New(slog.DiscardHandler))
			if tt.wantField != "" {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), ": "+tt.wantField+": ") {
					t.Fatalf("New = %v, want ErrConfig naming %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			if s.group != tt.wantGroup {
				t.Errorf("group = %q, want %q", s.group, tt.wantGroup)
			}
		})
	}
}

func TestSASL(t *testing.T) {
	tests := []struct {
		mechanism string // as in config
		kfake     string // as kfake names it
		auth      func(user, pass string) kgo.Opt
	}{
		{"", "PLAIN", func(u, p string) kgo.Opt { return kgo.SASL(plain.Auth{User: u, Pass: p}.AsMechanism()) }},
		{"scram-sha-256", "SCRAM-SHA-256", func(u, p string) kgo.Opt { return kgo.SASL(scram.Auth{User: u, Pass: p}.AsSha256Mechanism()) }},
		{"scram-sha-512", "SCRAM-SHA-512", func(u, p string) kgo.Opt { return kgo.SASL(scram.Auth{User: u, Pass: p}.AsSha512Mechanism()) }},
	}
	const topic = "catalog"
	for _, tt := range tests {
		t.Run(tt.kfake, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.EnableSASL(), kfake.Superuser(tt.kfake, "moat", "secret"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			produce(t, newProducer(t, c, tt.auth("moat", "secret")), spread(topic, 1, 1)...)

			t.Run("good_password", func(t *testing.T) {
				s := newSource(t, c, "good", "n1", func(k *config.KafkaSource) {
					k.Username, k.Password, k.Mechanism = "moat", "secret", tt.mechanism
				}, topic)
				var rec recorder
				start(t, s, rec.Deliver)
				waitFor(t, "the event", func() bool { return rec.Len() == 1 })
			})
			t.Run("bad_password", func(t *testing.T) {
				s := newSource(t, c, "bad", "n1", func(k *config.KafkaSource) {
					k.Username, k.Password, k.Mechanism = "moat", "wrong", tt.mechanism
				}, topic)
				var rec recorder
				r := start(t, s, rec.Deliver)
				waitFor(t, "a LastError", func() bool { return s.Status().LastError != "" })
				if err := r.stop(t); err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
				if st := s.Status(); rec.Len() != 0 || st.Connected {
					t.Errorf("read %d events, Status %+v; want none, not connected", rec.Len(), st)
				}
			})
		})
	}
}

// TestTLS checks that tls dials with TLS, verifying the brokers against
// the system's roots: a self-signed broker is refused.
func TestTLS(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "catalog"), kfake.TLS(selfSigned(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := newSource(t, c, "catalog", "n1", func(k *config.KafkaSource) { k.TLS = true }, "catalog")
	var rec recorder
	r := start(t, s, rec.Deliver)
	waitFor(t, "a LastError", func() bool { return s.Status().LastError != "" })
	if got := s.Status().LastError; !strings.Contains(got, "certificate") {
		t.Errorf("LastError = %q, want a certificate error", got)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kfake"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}
