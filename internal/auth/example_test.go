package auth_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moatproxy/moat/internal/auth"
)

func Example() {
	const secret = "an-hs256-secret-of-32-bytes-min!"
	r, err := auth.New(auth.Config{
		Tiers:       []string{"anonymous", "free", "premium"},
		JWT:         &auth.JWTConfig{HS256Secret: secret, TierClaim: "tier"},
		UserHashKey: "a-user-hash-key-of-32-bytes-min!",
	})
	if err != nil {
		panic(err)
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "user-42", "tier": "premium", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))

	for _, authorization := range []string{"", "Bearer " + token, "Bearer " + token + "x"} {
		req := httptest.NewRequest("GET", "/v1/books", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		id := r.Resolve(req)
		switch {
		case !id.Credentialed:
			fmt.Printf("anonymous: tier %s\n", id.Tier)
		case id.Valid:
			fmt.Printf("verified: tier %s, user key %s\n", id.Tier, r.UserKey(id))
		default:
			fmt.Printf("rejected (%s): forward uncached\n", id.Reason)
		}
	}
	// Output:
	// anonymous: tier anonymous
	// verified: tier premium, user key 27fda1e38d8571b52bf410fbb0e9a54a
	// rejected (bad signature): forward uncached
}
