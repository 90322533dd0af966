package main

import (
	"crypto/subtle"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
)

// Editing products: only the admin user, logged in with the admin token as
// password, and only through a form that carries its CSRF token.

// csrfKey is where the CSRF middleware leaves the form's token (c.Locals).
const csrfKey = "csrf"

// csrfCookie is the cookie that carries the CSRF token.
const csrfCookie = "csrf_"

// csrfHandlerKey is where the CSRF middleware leaves its handler, which
// drops the visitor's token.
const csrfHandlerKey = "csrf-handler"

// rotateCSRF drops the visitor's CSRF token when the session changes (log
// in, log out), as Django does: a token seen before the login (or planted)
// is worthless after it; the next page gets a new one.
func rotateCSRF(c *fiber.Ctx) {
	if h, ok := c.Locals(csrfHandlerKey).(*csrf.CSRFHandler); ok && c.Cookies(csrfCookie) != "" {
		_ = h.DeleteToken(c)
	}
}

// adminPassword reports whether the password is the admin token. In -dev
// without a token the admin needs no password.
func (s *site) adminPassword(password string) bool {
	if s.cfg.AdminToken == "" {
		return s.cfg.Dev
	}
	return subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.AdminToken)) == 1
}

// requireAdmin lets through the admin only: an anonymous visitor is sent
// to log in (a POST is refused), a customer is refused.
func (s *site) requireAdmin(c *fiber.Ctx) error {
	u := currentUser(c)
	switch {
	case u == nil && c.Method() == fiber.MethodGet:
		return c.Redirect("/login", fiber.StatusSeeOther)
	case u == nil || !u.Admin:
		return fiber.NewError(fiber.StatusForbidden, "Only the admin can edit products: log in as admin.")
	}
	return c.Next()
}

// csrf is fiber's CSRF middleware for every form that changes something
// (log in, log out, add to cart, edit a product): the token travels in a
// cookie and in the form's hidden csrf field, and a POST whose two do not
// match is refused with 403 before its handler runs.
//
// It runs for logged-in visitors, and for anyone on /login (a forged login
// would sign the victim in as the attacker). An anonymous visitor's other
// pages carry no token, so the page cache shares them; an anonymous POST
// elsewhere changes nothing (the cart sends it to log in). /_cache guards
// its own forms (the dashboard's token, nonce and same-origin check).
func (s *site) csrf() fiber.Handler {
	return csrf.New(csrf.Config{
		Next: func(c *fiber.Ctx) bool {
			p := c.Path()
			if strings.HasPrefix(p, "/_cache") || p == "/metrics" {
				return true
			}
			return currentUser(c) == nil && p != "/login"
		},
		KeyLookup:         "form:csrf",
		CookieName:        csrfCookie,
		CookiePath:        "/",
		CookieSameSite:    "Strict",
		CookieHTTPOnly:    true,
		Expiration:        2 * time.Hour,
		ContextKey:        csrfKey,
		HandlerContextKey: csrfHandlerKey,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return fiber.NewError(fiber.StatusForbidden, "The form is out of date or did not come from this site: open the page again and resubmit.")
		},
	})
}

// productForm is the edit form's values, as typed.
type productForm struct{ Name, Price, Description string }

// formErrors holds what is wrong with a form, by field name.
type formErrors map[string]string

// List returns the messages in the form's field order.
func (fe formErrors) List() []string {
	var out []string
	for _, f := range []string{"name", "price", "description"} {
		if m, ok := fe[f]; ok {
			out = append(out, m)
		}
	}
	return out
}

// maxPriceCents is the highest price a product can have: $100,000.00.
const maxPriceCents = 100_000_00

var priceRE = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]*))?$`)

// parsePrice reads a price such as "19.50" or "$19.5" into cents, exactly
// (no floating point): digits, at most two decimals, from 0.01 to
// 100000.00. The message names the field.
func parsePrice(typed string) (int, string) {
	v := strings.TrimPrefix(strings.TrimSpace(typed), "$")
	if v == "" {
		return 0, "Price: enter a price, such as 19.50."
	}
	if strings.HasPrefix(v, "-") {
		return 0, "Price: must not be negative."
	}
	m := priceRE.FindStringSubmatch(v)
	if m == nil {
		return 0, "Price: " + quoteTyped(typed) + " is not a number; write it like 19.50."
	}
	if len(m[2]) > 2 {
		return 0, "Price: at most 2 decimals (cents), such as 19.50."
	}
	whole, ok := new(big.Int).SetString(m[1], 10)
	if !ok || whole.Cmp(big.NewInt(maxPriceCents/100)) > 0 {
		return 0, "Price: at most 100000.00."
	}
	frac := m[2] + strings.Repeat("0", 2-len(m[2]))
	cents := int(whole.Int64())*100 + int(frac[0]-'0')*10 + int(frac[1]-'0')
	switch {
	case cents < 1:
		return 0, "Price: at least 0.01."
	case cents > maxPriceCents:
		return 0, "Price: at most 100000.00."
	}
	return cents, ""
}

func quoteTyped(s string) string {
	if utf8.RuneCountInString(s) > 20 {
		s = string([]rune(s)[:20]) + "…"
	}
	return `"` + s + `"`
}

// parseProductForm checks the form and returns the cleaned values or what
// is wrong with them, by field.
func parseProductForm(f productForm) (name, desc string, cents int, errs formErrors) {
	errs = formErrors{}
	name, desc = strings.TrimSpace(f.Name), strings.TrimSpace(f.Description)
	if name == "" || utf8.RuneCountInString(name) > 80 {
		errs["name"] = "Name: must have 1 to 80 characters."
	}
	if utf8.RuneCountInString(desc) > 1000 {
		errs["description"] = "Description: at most 1000 characters."
	}
	cents, msg := parsePrice(f.Price)
	if msg != "" {
		errs["price"] = msg
	}
	return name, desc, cents, errs
}
