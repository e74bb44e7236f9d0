package redisl2

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// The fleet's hot set: every node adds its hottest URLs (request targets,
// with their request rates) to one sorted set, kept to the hottest
// maxHot and for an hour after the last node wrote, so that a node that
// starts can fill its memory from L2 before it reports ready
// (`moat serve --warm`, `moat warm --from fleet`).
const (
	maxHot    = 10_000
	hotExpiry = time.Hour
)

func (c *Client) hotKey() string { return c.prefix + "hot" }

// PublishHot adds urls, with their request rates, to the fleet's hot set.
func (c *Client) PublishHot(ctx context.Context, urls []string, rates []float64) error {
	if len(urls) == 0 {
		return nil
	}
	rc, err := c.r()
	if err != nil {
		return err
	}
	add := rc.B().Zadd().Key(c.hotKey()).ScoreMember()
	for i, u := range urls {
		add = add.ScoreMember(rates[i], u)
	}
	cmds := rueidis.Commands{
		add.Build(),
		rc.B().Zremrangebyrank().Key(c.hotKey()).Start(0).Stop(-maxHot - 1).Build(),
		rc.B().Pexpire().Key(c.hotKey()).Milliseconds(hotExpiry.Milliseconds()).Build(),
	}
	for _, r := range rc.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Hot returns up to n URLs of the fleet's hot set, hottest first.
func (c *Client) Hot(ctx context.Context, n int) ([]string, error) {
	rc, err := c.r()
	if err != nil {
		return nil, err
	}
	return rc.Do(ctx, rc.B().Zrange().Key(c.hotKey()).Min("0").Max(strconv.Itoa(n-1)).Rev().Build()).AsStrSlice()
}
