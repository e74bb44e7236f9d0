package natstest

import (
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// TestRestartKeepsThePortAndTheStream: a client reconnects to the
// restarted server, and a JetStream stream survives the restart.
func TestRestartKeepsThePortAndTheStream(t *testing.T) {
	s := Start(t, Options{JetStream: true})
	nc := s.Client(t)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AddStream(&natsgo.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	url := s.URL()
	s.Restart()
	if s.URL() != url {
		t.Fatalf("URL after restart %s, want %s", s.URL(), url)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("the client did not reconnect")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if _, err := js.StreamInfo("T"); err != nil {
		t.Errorf("stream after restart: %v", err)
	}
}
