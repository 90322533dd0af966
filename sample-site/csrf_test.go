package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every form that changes something (log in, log out, add to cart, edit a
// product) carries a CSRF token, and fiber's csrf middleware refuses a POST
// without it, or with another, before its handler runs: nothing changes.
// Anonymous pages carry no token, so the page cache still shares them, also
// with a visitor who holds a CSRF cookie from /login.
func TestEveryFormNeedsItsCSRFToken(t *testing.T) {
	s := newTestSite(t)
	sessionSet := func(r response) bool {
		for _, c := range (&http.Response{Header: r.header}).Cookies() {
			if c.Name == sessionCookie && c.Value != "" {
				return true
			}
		}
		return false
	}

	// Log in.
	csrfC, token := formToken(t, s, "/login")
	for name, tc := range map[string]struct {
		form    url.Values
		cookies []*http.Cookie
	}{
		"no token":          {url.Values{"user": {"alice"}}, nil},
		"token, no cookie":  {url.Values{"user": {"alice"}, "csrf": {token}}, nil},
		"cookie, no token":  {url.Values{"user": {"alice"}}, []*http.Cookie{csrfC}},
		"another token":     {url.Values{"user": {"alice"}, "csrf": {token + "x"}}, []*http.Cookie{csrfC}},
		"cookie of another": {url.Values{"user": {"alice"}, "csrf": {token}}, []*http.Cookie{{Name: csrfCookie, Value: token + "x"}}},
	} {
		if r := do(t, s, "POST", "/login", tc.form, tc.cookies...); r.status != http.StatusForbidden || sessionSet(r) {
			t.Errorf("login, %s: %d, session set: %v", name, r.status, sessionSet(r))
		}
	}
	if r := do(t, s, "GET", "/login", nil); !strings.Contains(r.header.Get("Cache-Control"), "no-store") || r.header.Get("X-Cache") == "HIT" {
		t.Errorf("the login page may be stored: %s %s", r.header.Get("Cache-Control"), r.header.Get("X-Cache"))
	}
	// The token of the login form dies with the login (rotated, as
	// Django does): it does not log the new session out.
	r := do(t, s, "POST", "/login", url.Values{"user": {"alice"}, "csrf": {token}}, csrfC)
	var fresh *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			fresh = c
		}
	}
	if r.status != http.StatusSeeOther || fresh == nil {
		t.Fatalf("login with the token: %d", r.status)
	}
	if r := do(t, s, "POST", "/logout", url.Values{"csrf": {token}}, fresh, csrfC); r.status != http.StatusForbidden {
		t.Errorf("log out with the token from before the login: %d", r.status)
	}
	alice := login(t, s, "alice")

	// The pages a logged-in visitor gets carry the token in their forms
	// (the cards' forms stand outside the shared card fragment).
	home := do(t, s, "GET", "/", nil, alice)
	if n := strings.Count(home.body, `name="csrf"`); n < 2 {
		t.Fatalf("alice's home page has %d CSRF fields", n)
	}
	if !strings.Contains(do(t, s, "GET", "/p/3", nil, alice).body, `name="csrf"`) {
		t.Error("alice's product page has no CSRF field")
	}

	// Add to cart.
	cartBefore := do(t, s, "GET", "/cart", nil, alice).body
	if !strings.Contains(cartBefore, "empty") {
		t.Fatalf("alice's cart is not empty at first")
	}
	if r := do(t, s, "POST", "/cart/3", url.Values{}, alice); r.status != http.StatusForbidden {
		t.Errorf("add to cart without the token: %d", r.status)
	}
	c, tok := formToken(t, s, "/p/3", alice)
	if r := do(t, s, "POST", "/cart/3", url.Values{"csrf": {tok + "x"}}, alice, c); r.status != http.StatusForbidden {
		t.Errorf("add to cart with another token: %d", r.status)
	}
	if after := do(t, s, "GET", "/cart", nil, alice).body; !strings.Contains(after, "empty") {
		t.Fatal("a refused POST filled the cart")
	}
	if r := postForm(t, s, "/p/3", "/cart/3", url.Values{}, alice); r.status != http.StatusSeeOther {
		t.Fatalf("add to cart with the token: %d", r.status)
	}
	if after := do(t, s, "GET", "/cart", nil, alice).body; strings.Contains(after, "empty") {
		t.Fatal("the cart is still empty")
	}

	// Log out.
	if r := do(t, s, "POST", "/logout", url.Values{}, alice); r.status != http.StatusForbidden {
		t.Errorf("log out without the token: %d", r.status)
	}
	if r := do(t, s, "GET", "/account", nil, alice); r.status != 200 || !strings.Contains(r.body, "alice") {
		t.Fatalf("a refused log out ended the session: %d", r.status)
	}
	if r := postForm(t, s, "/account", "/logout", url.Values{}, alice); r.status != http.StatusSeeOther {
		t.Fatalf("log out with the token: %d", r.status)
	}
	if r := do(t, s, "GET", "/account", nil, alice); r.status != http.StatusSeeOther {
		t.Fatalf("the session outlived the log out: %d", r.status)
	}

	// Anonymous pages: no token, and shared by the page cache even for a
	// visitor with a CSRF cookie.
	warm(t, s, "/")
	r = do(t, s, "GET", "/", nil, csrfC)
	if r.header.Get("X-Cache") != "HIT" || strings.Contains(r.body, `name="csrf"`) {
		t.Errorf("anonymous home with a CSRF cookie: %s, token in page: %v", r.header.Get("X-Cache"), strings.Contains(r.body, `name="csrf"`))
	}
	// An anonymous POST to the cart is sent to log in; nothing changes.
	if r := do(t, s, "POST", "/cart/3", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Errorf("anonymous add to cart: %d %s", r.status, r.header.Get("Location"))
	}
}
