package compress

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// jsonLike returns n bytes of a realistic API response: an array of user
// records with repeated keys, words from small vocabularies, random IDs,
// numbers and timestamps. The same n always gives the same bytes.
func jsonLike(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	first := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"}
	last := []string{"smith", "jones", "müller", "garcia", "rossi", "dubois", "nowak", "kim", "tanaka", "silva", "haddad", "okafor"}
	cities := []string{"Berlin", "Paris", "Lisbon", "Osaka", "Lagos", "Toronto", "Sydney", "São Paulo", "Kraków", "Seoul"}
	tags := []string{"admin", "beta", "premium", "trial", "churned", "vip", "newsletter", "mobile", "desktop", "api"}
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		f, l := first[rng.IntN(len(first))], last[rng.IntN(len(last))]
		fmt.Fprintf(&b, `{"id":%d,"uuid":"%016x%016x","name":"%s %s","email":"%s.%s@example.com",`,
			100000+i*7+rng.IntN(7), rng.Uint64(), rng.Uint64(), f, l, f, l)
		fmt.Fprintf(&b, `"active":%t,"score":%.2f,"created_at":"2026-%02d-%02dT%02d:%02d:%02dZ",`,
			rng.IntN(4) > 0, rng.Float64()*100, 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60))
		fmt.Fprintf(&b, `"tags":["%s","%s"],"address":{"city":"%s","zip":"%05d"}}`,
			tags[rng.IntN(len(tags))], tags[rng.IntN(len(tags))], cities[rng.IntN(len(cities))], rng.IntN(100000))
	}
	return []byte(b.String()[:n])
}

// randomBytes returns n incompressible bytes, the same for the same n.
func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
