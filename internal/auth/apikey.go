package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// apiKeySource verifies API keys against a table of SHA-256 digests.
//
// The presented key is hashed, and the table is indexed by the first 8 bytes of each digest
// (the split-token pattern): the lookup can leak, through timing, only which 8-byte digest
// prefixes exist, which tells an attacker nothing about a key (finding a key for a prefix is a
// preimage search). The full 32-byte digest is then compared in constant time.
type apiKeySource struct {
	header  string
	buckets map[[8]byte][]apiKeyEntry
}

type apiKeyEntry struct {
	digest  [sha256.Size]byte
	tier    int
	subject string
}

const digestPrefix = "sha256:"

func newAPIKeySource(p *problems, c APIKeysConfig, tiers map[string]int, used headers) *apiKeySource {
	header := c.Header
	if header == "" {
		header = DefaultAPIKeyHeader
	}
	s := &apiKeySource{buckets: map[[8]byte][]apiKeyEntry{}}
	s.header = used.claim(p, "auth.api_keys.header", header)
	if len(c.Keys) == 0 {
		p.addf("auth.api_keys.keys", "no keys")
	}
	seen := map[[sha256.Size]byte]string{} // digest → key id, to refuse one key under two ids
	for _, id := range slices.Sorted(maps.Keys(c.Keys)) {
		k := c.Keys[id]
		field := mapField("auth.api_keys.keys", id)
		e := apiKeyEntry{subject: k.Subject}
		if e.subject == "" {
			e.subject = id
		}
		var ok bool
		if e.tier, ok = tiers[k.Tier]; !ok {
			p.addf(field+".tier", "%q is not one of auth.tiers", k.Tier)
		}
		isDigest := len(k.Key) >= len(digestPrefix) && strings.EqualFold(k.Key[:len(digestPrefix)], digestPrefix)
		switch {
		case isDigest:
			hexDigest := k.Key[len(digestPrefix):]
			if n, err := hex.Decode(e.digest[:], []byte(hexDigest)); err != nil || n != sha256.Size || len(hexDigest) != 2*sha256.Size {
				p.addf(field+".key", "a digest is sha256: followed by 64 hex digits")
				continue
			}
		case k.Key == "":
			p.addf(field+".key", "required")
			continue
		case len(k.Key) < MinRawAPIKeyBytes:
			p.addf(field+".key", "raw key of %d bytes is guessable; use at least %d (or give its sha256: digest)", len(k.Key), MinRawAPIKeyBytes)
			continue
		default:
			e.digest = sha256.Sum256([]byte(k.Key))
		}
		if other, dup := seen[e.digest]; dup {
			p.addf(field+".key", "same key as %s", mapField("auth.api_keys.keys", other))
			continue
		}
		seen[e.digest] = id
		prefix := [8]byte(e.digest[:8])
		s.buckets[prefix] = append(s.buckets[prefix], e)
	}
	return s
}

func (s *apiKeySource) verify(h http.Header) verdict {
	value, v, ok := singleValue(h, s.header)
	if !ok {
		return v
	}
	digest := sha256.Sum256([]byte(value))
	bucket := s.buckets[[8]byte(digest[:8])]
	match := -1
	for i := range bucket { // no early exit: the whole bucket is compared
		if subtle.ConstantTimeCompare(bucket[i].digest[:], digest[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		v.reason = ReasonUnknownAPIKey
		return v
	}
	v.tier, v.subject = bucket[match].tier, bucket[match].subject
	return v
}

// singleValue returns the one value of the credential field name in h. ok
// is false when there is nothing to verify: v is then the zero verdict
// (field absent) or a rejection (the field is repeated, which a client
// could use to smuggle a second credential past a proxy that reads the
// first).
func singleValue(h http.Header, name string) (value string, v verdict, ok bool) {
	values, present := h[name]
	if !present {
		return "", verdict{}, false
	}
	v = verdict{present: true}
	if len(values) != 1 {
		v.reason = ReasonDuplicate
		return "", v, false
	}
	return values[0], v, true
}
