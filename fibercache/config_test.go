package fibercache

import (
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

func TestBadConfigPanicsAtNew(t *testing.T) {
	broken := cachekit.New(cachekit.Config{Prefix: "has space"})
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"negative TTL", func() { New(Config{TTL: -time.Second}) }, "fibercache: Config.TTL is negative"},
		{"Page negative TTL", func() { Page(-time.Second) }, "fibercache: Page needs a TTL of 0 or more"},
		{"negative SWR", func() { New(Config{StaleWhileRevalidate: -1}) }, "fibercache: Config.StaleWhileRevalidate"},
		{"negative SIE", func() { New(Config{StaleIfError: -1}) }, "fibercache: Config.StaleIfError"},
		{"status 99", func() { New(Config{Statuses: []int{200, 99}}) }, "fibercache: Config.Statuses holds 99"},
		{"status 206", func() { New(Config{Statuses: []int{206}}) }, "fibercache: Config.Statuses holds 206"},
		{"no statuses", func() { New(Config{Statuses: []int{}}) }, "fibercache: Config.Statuses is empty"},
		{"bad prefix", func() { New(Config{KeyPrefix: "a b"}) }, "fibercache: Config.KeyPrefix"},
		{"bad harmless cookie", func() { New(Config{HarmlessCookies: []string{"a=b"}}) }, "fibercache: Config.HarmlessCookies"},
		{"user cookie harmless", func() { New(Config{UserCookie: "_ga_x"}) }, "fibercache: Config.UserCookie"},
		{"bad user header", func() { New(Config{UserHeader: "X User"}) }, "fibercache: Config.UserHeader"},
		{"broken cache", func() { New(Config{Cache: broken}) }, "fibercache: Config.Cache cannot work"},
		{"negative LockTimeout", func() { New(Config{LockTimeout: -time.Second}) }, "fibercache: Config.LockTimeout is negative"},
		{"negative HitForMiss", func() { Page(time.Second, Config{HitForMiss: -1}) }, "fibercache: Config.HitForMiss is negative"},
		{"bad credential header", func() { New(Config{CredentialHeaders: []string{"X-Api-Key", "X Key"}}) }, "fibercache: Config.CredentialHeaders holds \"X Key\""},
		{"empty credential header", func() { New(Config{CredentialHeaders: []string{""}}) }, "fibercache: Config.CredentialHeaders"},
		{"broken purge cache", func() { Purge(PurgeConfig{Cache: broken}) }, "fibercache: PurgeConfig.Cache cannot work"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				p := recover()
				s, _ := p.(string)
				if !strings.HasPrefix(s, tc.want) {
					t.Errorf("panic %v, want it to start with %q", p, tc.want)
				}
			}()
			tc.fn()
		})
	}
}
