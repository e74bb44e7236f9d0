package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/moatproxy/moat/gateway"
)

// envelope is one message on the subject: a purge, or a tail, numbered in
// its sender's stream (see the package comment, "Sequence numbers").
//
// The fields are in the order the sender writes them (head, purge, then
// stamp): encode, which marshals this struct, writes the same bytes.
type envelope struct {
	Node   string `json:"node"`   // the sender's Options.Node, for people
	Member string `json:"member"` // the sending member: its stream, and it does not hear its own purge
	// Purge is nil in a tail: a message that carries no purge, only the
	// stream's last number (Seq), so that numbers the receivers never heard
	// show without waiting for the sender's next purge.
	Purge *gateway.Purge `json:"purge,omitempty"`
	// Age is the member's age (µs since it joined, on the sender's
	// monotonic clock) when this message was numbered.
	Age uint64 `json:"age"`
	// Prior is the member's age when the last number this message may show
	// missing was taken: Seq-1 for a purge, Seq for a tail. Age-Prior is
	// how long before this message that was, which lets a receiver bound
	// the moment on its own clock (see bound). 0 when there is none.
	Prior uint64 `json:"prior"`
	// Seq numbers the member's purges from 1, one per purge including those
	// the sender dropped; a tail repeats the last number taken. 0 (missing)
	// is malformed.
	Seq uint64 `json:"seq"`
}

// maxMessage bounds an envelope: a bigger one is not sent, and one
// received is dropped before it is parsed.
//
// WARNING: a purge bigger than this (tens of thousands of tags) does not
// reach the other nodes; it is counted as dropped and logged (and the
// other nodes are told they missed a purge). Split such purges before they
// reach the bus.
const maxMessage = 1 << 20

// stampRoom is the most bytes stamp appends.
const stampRoom = len(`,"age":,"prior":,"seq":}`) + 3*20

var (
	errNoMember = errors.New("natsbus: envelope without a member")
	errNoSeq    = errors.New("natsbus: envelope without a sequence number")
)

// head is the opening of a member's envelopes, node and member, to which
// the sender appends the purge (if any) and stamp.
func head(node, member string) []byte {
	n, _ := json.Marshal(node) // strings always marshal
	m, _ := json.Marshal(member)
	out := append([]byte(`{"node":`), n...)
	out = append(out, `,"member":`...)
	return append(out, m...)
}

// withPurge returns head followed by the purge, with room for stamp. It
// fails if the purge does not marshal or the stamped envelope would be
// bigger than maxMessage.
func withPurge(head []byte, p gateway.Purge) ([]byte, error) {
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	n := len(head) + len(`,"purge":`) + len(pj)
	if n+stampRoom > maxMessage {
		return nil, fmt.Errorf("natsbus: purge of %d bytes, more than %d", n+stampRoom, maxMessage)
	}
	out := make([]byte, 0, n+stampRoom)
	out = append(out, head...)
	out = append(out, `,"purge":`...)
	return append(out, pj...), nil
}

// stamp ends an envelope begun by head or withPurge with its numbers.
func stamp(body []byte, age, prior, seq uint64) []byte {
	body = append(body, `,"age":`...)
	body = strconv.AppendUint(body, age, 10)
	body = append(body, `,"prior":`...)
	body = strconv.AppendUint(body, prior, 10)
	body = append(body, `,"seq":`...)
	body = strconv.AppendUint(body, seq, 10)
	return append(body, '}')
}

// encode marshals e whole (the sender builds the same bytes in pieces).
func encode(e envelope) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(body) > maxMessage {
		return nil, fmt.Errorf("natsbus: purge of %d bytes, more than %d", len(body), maxMessage)
	}
	return body, nil
}

// decode reads an envelope, refusing one that is too big, not JSON,
// without a sender or without a sequence number.
func decode(data []byte) (envelope, error) {
	var e envelope
	if len(data) > maxMessage {
		return e, fmt.Errorf("natsbus: message of %d bytes, more than %d", len(data), maxMessage)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return envelope{}, fmt.Errorf("natsbus: not a purge envelope: %w", err)
	}
	if e.Member == "" {
		return envelope{}, errNoMember
	}
	if e.Seq == 0 {
		return envelope{}, errNoSeq
	}
	return e, nil
}

// Bounding when missing numbers were taken: a receiver that hears this
// message at now (its monotonic clock) knows the message was numbered no
// later than now, and the last number it may show missing was taken
// Age-Prior before that on the sender's clock. The two clocks run at
// nearly the same rate; driftAllowance and slack make the bound later, the
// safe side (a later bound tells lost more often, never less).
const (
	driftAllowance = 5000 // 1/5000 of the interval: 200 ppm
	slack          = int64(100_000)
	maxInterval    = uint64(1) << 45 // µs, about a year; longer is cut short (the bound gets later)
)

// bound returns the latest moment, on the receiver's monotonic clock
// (mono), that the last number this message may show missing was taken.
func (e envelope) bound(now int64) int64 {
	var d uint64
	if e.Age > e.Prior {
		d = min(e.Age-e.Prior, maxInterval)
	}
	ns := int64(d) * 1000
	return now - ns + ns/driftAllowance + slack
}
