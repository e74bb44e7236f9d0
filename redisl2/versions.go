package redisl2

import (
	"context"
	"strconv"
	"time"

	"github.com/moatproxy/moat/gateway"
)

// Versions are the fleet's namespace versions in one Redis HASH (see
// gateway.Versions).
type Versions struct{ c *Client }

var _ gateway.Versions = (*Versions)(nil)

// Versions returns the client's namespace versions store.
func (c *Client) Versions() *Versions { return &Versions{c} }

func (v *Versions) key() string { return v.c.prefix + "versions" }

// Load implements gateway.Versions.
func (v *Versions) Load(ctx context.Context) (_ map[string]uint64, err error) {
	defer v.c.observed("versions", time.Now(), &err)
	rc, err := v.c.r()
	if err != nil {
		return nil, err
	}
	m, err := rc.Do(ctx, rc.B().Hgetall().Key(v.key()).Build()).AsStrMap()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(m))
	for name, s := range m {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, nil
}

// Bump implements gateway.Versions: new random versions, written in one
// HSET.
func (v *Versions) Bump(ctx context.Context, names []string) (_ map[string]uint64, err error) {
	defer v.c.observed("versions", time.Now(), &err)
	rc, err := v.c.r()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(names))
	cmd := rc.B().Hset().Key(v.key()).FieldValue()
	for _, name := range names {
		n := gateway.NewVersion()
		out[name] = n
		cmd = cmd.FieldValue(name, strconv.FormatUint(n, 10))
	}
	if err := rc.Do(ctx, cmd.Build()).Error(); err != nil {
		return nil, err
	}
	return out, nil
}
