package natsbus

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moatproxy/moat/gateway"
)

// envelope is one message on the subject: a purge and who sent it.
type envelope struct {
	Node   string        `json:"node"`   // the sender's Options.Node, for people
	Member string        `json:"member"` // the sending member: it does not hear its own purge
	Purge  gateway.Purge `json:"purge"`
}

// maxMessage bounds an envelope: a bigger one is not sent, and one
// received is dropped before it is parsed.
//
// WARNING: a purge bigger than this (tens of thousands of tags) does not
// reach the other nodes; it is counted as dropped and logged. Split such
// purges before they reach the bus.
const maxMessage = 1 << 20

var errNoMember = errors.New("natsbus: envelope without a member")

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

// decode reads an envelope, refusing one that is too big, not JSON or
// without a sender.
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
	return e, nil
}
