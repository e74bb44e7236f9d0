package demo

import (
	cryptorand "crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const pageSize = 20

func (o *Origin) product(w http.ResponseWriter, r *http.Request) {
	id, ok := o.catalog.id(r.PathValue("id"))
	if !ok {
		notFound(w)
		return
	}
	v := o.catalog.versions[id-1].Load()
	serveJSON(w, r, "public, max-age=60", lastModified(id, v), o.catalog.product(id, v))
}

// productPage sends no Cache-Control at all, so the gateway route's ttl
// decides how long a page is fresh.
func (o *Origin) productPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := 1
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, "", map[string]string{"error": "page must be a positive integer"})
			return
		}
		page = n
	}
	order, ok := o.catalog.orders[q.Get("sort")]
	if !ok {
		writeJSON(w, http.StatusBadRequest, "", map[string]string{"error": "sort must be id, price or name"})
		return
	}
	n := o.catalog.products
	p := productPage{Page: page, Pages: (n + pageSize - 1) / pageSize, Total: n, Items: []productSummary{}}
	for i := (page - 1) * pageSize; i < min(page*pageSize, n); i++ {
		p.Items = append(p.Items, o.catalog.summary(order[i]))
	}
	serveJSON(w, r, "", time.Time{}, p)
}

// catalogSummary sends max-age=0, as many origins do by accident; the demo
// route sets override_origin to cache it anyway.
func (o *Origin) catalogSummary(w http.ResponseWriter, r *http.Request) {
	serveJSON(w, r, "max-age=0", time.Time{}, o.catalog.categories)
}

func (o *Origin) book(w http.ResponseWriter, r *http.Request) {
	isbn, ok := normalizeISBN(r.PathValue("isbn"))
	if !ok {
		notFound(w)
		return
	}
	lang := preferredLanguage(r.Header.Get("Accept-Language"))
	// WARNING: the body depends on Accept-Language, so every answer must say
	// so (RFC 9110 section 12.5.5) or a cache serves one language to all.
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("Content-Language", lang)
	serveJSON(w, r, "public, max-age=300", time.Time{}, newBook(isbn, lang))
}

// cart is per user and must never be stored by a shared cache.
func (o *Origin) cart(w http.ResponseWriter, r *http.Request) {
	user := r.Header.Get("X-User")
	if c, err := r.Cookie("session"); user == "" && err == nil {
		user = c.Value
	}
	if user == "" {
		user = cryptorand.Text()
		http.SetCookie(w, &http.Cookie{Name: "session", Value: user, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	writeJSON(w, http.StatusOK, "private, no-store", o.catalog.cart(user))
}

// time must be revalidated on every use; its ETag changes once a second, so
// a revalidating cache gets 304s within the second.
func (o *Origin) time(w http.ResponseWriter, r *http.Request) {
	now := o.now().UTC().Truncate(time.Second)
	serveJSON(w, r, "no-cache", time.Time{}, serverTime{Now: now.Format(time.RFC3339), Unix: now.Unix()})
}

// writeProduct stands for every kind of write: it bumps the product's
// version so later GETs return a new body and ETag.
func (o *Origin) writeProduct(w http.ResponseWriter, r *http.Request) {
	id, ok := o.catalog.id(r.PathValue("id"))
	if !ok {
		notFound(w)
		return
	}
	v := o.catalog.versions[id-1].Add(1)
	o.log.Info("demo: product written", "method", r.Method, "id", id, "version", v)
	if r.Method == http.MethodPost {
		w.Header().Set("Location", "/api/products/"+strconv.Itoa(id))
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// preferredLanguage picks the supported language the Accept-Language header
// ranks highest (RFC 9110 section 12.5.4), matching on the primary subtag;
// English when none is acceptable.
func preferredLanguage(header string) string {
	best, bestQ := "en", 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if s, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			var err error
			if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		if _, ok := languageIndex[primary]; ok && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// normalizeISBN strips hyphens and accepts 10 characters (the last may be X)
// or 13 digits. It does not check the check digit: the demo invents books.
func normalizeISBN(s string) (string, bool) {
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 10 && len(s) != 13 {
		return "", false
	}
	for i, c := range s {
		if (c < '0' || c > '9') && !(c == 'X' && len(s) == 10 && i == 9) {
			return "", false
		}
	}
	return s, true
}
