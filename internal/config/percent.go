package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Percent is a fraction written as "10%" or as a number from 0 to 1 (0.1).
type Percent float64

// ParsePercent parses "10%", "2.5%" or "0.1".
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid percentage %q (use e.g. 10%%)", s)
		}
		return Percent(f / 100), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid percentage %q (use e.g. 10%% or 0.1)", s)
	}
	return Percent(f), nil
}

// UnmarshalYAML reads a Percent from a scalar.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a percentage like 10%%, got %s", describe(n))
	}
	v, err := ParsePercent(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// String formats p as a percentage.
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p)*100, 'f', -1, 64) + "%"
}
