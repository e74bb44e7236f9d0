package redisl2

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

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

// raiseVersions sets each field to its value unless the hash holds a
// greater one, and returns the values it holds after (one script: versions
// only grow, whatever the order concurrent purges arrive in).
var raiseVersions = rueidis.NewLuaScript(`
local out = {}
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i]) or '0'
  if tonumber(ARGV[i+1]) > tonumber(cur) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1])
    cur = ARGV[i+1]
  end
  out[#out+1] = cur
end
return out`)

// Raise implements gateway.Versions.
func (v *Versions) Raise(ctx context.Context, versions map[string]uint64) (_ map[string]uint64, err error) {
	defer v.c.observed("versions", time.Now(), &err)
	rc, err := v.c.r()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(versions))
	args := make([]string, 0, 2*len(versions))
	for name, n := range versions {
		names = append(names, name)
		args = append(args, name, strconv.FormatUint(n, 10))
	}
	held, err := raiseVersions.Exec(ctx, rc, []string{v.key()}, args).AsStrSlice()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(names))
	for i, name := range names {
		if i < len(held) {
			if n, perr := strconv.ParseUint(held[i], 10, 64); perr == nil {
				out[name] = n
			}
		}
	}
	return out, nil
}
