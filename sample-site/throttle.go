package main

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Failed logins are counted per client address in the cache, Django's
// add-then-incr pattern: Add starts the window's counter only if there is
// none, Incr counts atomically (across instances on Redis through
// redisbus.Atomic).
const (
	maxLoginFailures   = 5
	loginFailureWindow = 15 * time.Minute
)

func loginFailuresKey(c *fiber.Ctx) string { return "login-failures:" + c.IP() }

// loginFailed counts one failed login.
func (s *site) loginFailed(c *fiber.Ctx) {
	key := loginFailuresKey(c)
	_, _ = s.cache.Add(key, []byte("0"), loginFailureWindow)
	_, _ = s.cache.Incr(key, 1)
}

// loginBlocked reports whether the client's address has failed too often.
func (s *site) loginBlocked(c *fiber.Ctx) bool {
	v, ok, _ := s.cache.Get(loginFailuresKey(c))
	n, _ := strconv.Atoi(string(v))
	return ok && n >= maxLoginFailures
}
