package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the tokens that are parsed; a longer one is rejected unread.
const MaxTokenBytes = 16 << 10

// jwtSource verifies bearer tokens with golang-jwt, against keys parsed once by New.
type jwtSource struct {
	parser       *jwt.Parser
	keyFunc      jwt.Keyfunc // bound once, so that parsing does not allocate a closure
	header       string      // canonical
	bearer       bool        // header is Authorization: the Bearer scheme is required
	checkIssuer  bool
	tierClaim    string
	subjectClaim string
	tiers        map[string]int

	// The keys, boxed once as jwt.Parser wants them (a key or a jwt.VerificationKeySet):
	byKID   map[string]map[string]any // kid → alg → keys of that kid
	anyKID  map[string]any            // alg → kid-less keys: used for any kid not in byKID
	noKID   map[string]any            // alg → every key: used for tokens without a kid
	methods []string
}

var (
	errUnknownKID    = errors.New("unknown kid")
	errKIDAlgMissing = errors.New("kid names a key of another algorithm")
	errBadKID        = errors.New("kid is not a string")
	errCrit          = errors.New("unsupported critical header extension")
)

func newJWTSource(p *problems, c JWTConfig, tiers map[string]int, used headers, now func() time.Time) *jwtSource {
	s := &jwtSource{tierClaim: c.TierClaim, subjectClaim: c.SubjectClaim, tiers: tiers}
	if s.tierClaim == "" {
		s.tierClaim = DefaultTierClaim
	}
	if s.subjectClaim == "" {
		s.subjectClaim = DefaultSubjectClaim
	}
	header := c.Header
	if header == "" {
		header = DefaultJWTHeader
	}
	s.header = used.claim(p, "auth.jwt.header", header)
	s.bearer = s.header == "Authorization"

	leeway := time.Duration(c.Leeway)
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0 || leeway > MaxLeeway:
		p.addf("auth.jwt.leeway", "%s is out of range: 0 to %s", leeway, MaxLeeway)
	}

	var keys []verificationKey
	if c.HS256Secret != "" {
		if n := len(c.HS256Secret); n < MinSecretBytes {
			p.addf("auth.jwt.hs256_secret", "%d bytes; HS256 needs at least %d (RFC 7518 §3.2), e.g. openssl rand -base64 32", n, MinSecretBytes)
		}
		keys = append(keys, verificationKey{alg: "HS256", key: []byte(c.HS256Secret)})
	}
	if c.PublicKeyFile != "" {
		k, err := loadPEMKeys(c.PublicKeyFile)
		if err != nil {
			p.add("auth.jwt.public_key_file", err)
		}
		keys = append(keys, k...)
	}
	if c.JWKSFile != "" {
		k, err := loadJWKS(c.JWKSFile)
		if err != nil {
			p.add("auth.jwt.jwks_file", err)
		}
		keys = append(keys, k...)
	}
	if c.HS256Secret == "" && c.PublicKeyFile == "" && c.JWKSFile == "" {
		p.addf("auth.jwt", "no key: set hs256_secret, public_key_file or jwks_file")
	}
	s.index(keys)

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(s.methods), // never "none"; HS256 only with hs256_secret
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if c.Issuer != "" {
		s.checkIssuer = true
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	s.parser = jwt.NewParser(opts...)
	s.keyFunc = s.lookupKey
	return s
}

// index groups keys by kid and algorithm and boxes each group once.
func (s *jwtSource) index(keys []verificationKey) {
	byKID := map[string]map[string][]jwt.VerificationKey{}
	anyKID := map[string][]jwt.VerificationKey{}
	noKID := map[string][]jwt.VerificationKey{}
	for _, k := range keys {
		if k.kid == "" {
			anyKID[k.alg] = append(anyKID[k.alg], k.key)
		} else {
			if byKID[k.kid] == nil {
				byKID[k.kid] = map[string][]jwt.VerificationKey{}
			}
			byKID[k.kid][k.alg] = append(byKID[k.kid][k.alg], k.key)
		}
		noKID[k.alg] = append(noKID[k.alg], k.key)
	}
	s.byKID = make(map[string]map[string]any, len(byKID))
	for kid, m := range byKID {
		s.byKID[kid] = box(m)
	}
	s.anyKID, s.noKID = box(anyKID), box(noKID)
	// Never nil: golang-jwt reads a nil list as "every algorithm", "none" included.
	s.methods = []string{}
	for alg := range noKID {
		s.methods = append(s.methods, alg)
	}
	slices.Sort(s.methods)
}

func box(m map[string][]jwt.VerificationKey) map[string]any {
	out := make(map[string]any, len(m))
	for alg, ks := range m {
		if len(ks) == 1 {
			out[alg] = ks[0]
		} else {
			out[alg] = jwt.VerificationKeySet{Keys: ks}
		}
	}
	return out
}

// lookupKey is the jwt.Keyfunc. The parser has already checked that the token's alg is one of
// s.methods, so every map below has an entry for some alg; the lookups pin the alg to its keys.
func (s *jwtSource) lookupKey(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: extensions listed in crit must be understood; moat knows none.
		return nil, errCrit
	}
	alg := t.Method.Alg()
	kidValue, hasKID := t.Header["kid"]
	if !hasKID {
		return s.noKID[alg], nil
	}
	kid, ok := kidValue.(string)
	if !ok {
		return nil, errBadKID
	}
	if byAlg, ok := s.byKID[kid]; ok {
		if k, ok := byAlg[alg]; ok {
			return k, nil
		}
		return nil, errKIDAlgMissing
	}
	if k, ok := s.anyKID[alg]; ok {
		return k, nil
	}
	return nil, errUnknownKID
}

// verify checks the token in h, if there is one.
func (s *jwtSource) verify(h http.Header) verdict {
	value, v, ok := singleValue(h, s.header)
	if !ok {
		return v
	}
	token, reason := s.token(value)
	if reason != "" {
		v.reason = reason
		return v
	}
	if len(token) > MaxTokenBytes {
		v.reason = ReasonTooLarge
		return v
	}
	claims := jwt.MapClaims{}
	t, err := s.parser.ParseWithClaims(token, claims, s.keyFunc)
	if err != nil {
		v.reason = s.reasonFor(t, claims, err)
		return v
	}
	if exp, _ := claims.GetExpirationTime(); exp == nil {
		v.reason = ReasonMissingExpiry
		return v
	}
	tierValue, ok := claims[s.tierClaim]
	if !ok {
		v.reason = ReasonMissingTier
		return v
	}
	tier, _ := tierValue.(string)
	if v.tier, ok = s.tiers[tier]; !ok {
		v.reason = ReasonUnknownTier
		return v
	}
	if sub, ok := claims[s.subjectClaim]; ok {
		if v.subject, ok = sub.(string); !ok {
			v.reason = ReasonBadSubject
			return v
		}
	}
	return v
}

// token extracts the token from a header value, or says why there is none.
func (s *jwtSource) token(value string) (token, reason string) {
	// RFC 9110 §11.1: the scheme is case-insensitive; RFC 6750 §2.1: "Bearer" 1*SP token.
	const scheme = "bearer "
	if len(value) >= len(scheme) && strings.EqualFold(value[:len(scheme)], scheme) {
		value = value[len(scheme):]
	} else if s.bearer {
		return "", ReasonNotBearer
	}
	if value = strings.Trim(value, " \t"); value == "" {
		return "", ReasonMalformed
	}
	return value, ""
}

// reasonFor maps a golang-jwt error to a Reason. Checks follow the order the parser does them in,
// so the first failure is the one reported.
func (s *jwtSource) reasonFor(t *jwt.Token, claims jwt.MapClaims, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, errBadKID), errors.Is(err, errCrit):
		return ReasonMalformed
	case errors.Is(err, errUnknownKID):
		return ReasonUnknownKID
	case errors.Is(err, errKIDAlgMissing):
		return ReasonAlgNotAllowed
	case t == nil || t.Method == nil:
		// The alg header is absent or names no algorithm golang-jwt knows.
		return ReasonAlgNotAllowed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if !slices.Contains(s.methods, t.Method.Alg()) {
			return ReasonAlgNotAllowed
		}
		return ReasonBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonIssuedInFuture
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonWrongAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The parser requires only iss (with issuer set) and aud (with audience set).
		if iss, _ := claims.GetIssuer(); s.checkIssuer && iss == "" {
			return ReasonWrongIssuer
		}
		return ReasonWrongAudience
	}
	return ReasonInvalidClaims
}
