package main

import (
	"net/url"
	"testing"
)

func TestFailedLoginsAreThrottled(t *testing.T) {
	s := newTestSite(t)
	bad := url.Values{"user": {"nobody"}}
	for i := range maxLoginFailures {
		if r := postForm(t, s, "/login", "/login", bad); r.status != 422 {
			t.Fatalf("failed login %d: status %d", i+1, r.status)
		}
	}
	if r := postForm(t, s, "/login", "/login", bad); r.status != 429 {
		t.Fatalf("failed login past the limit: status %d", r.status)
	}
	if err := s.cache.Clear(); err != nil {
		t.Fatal(err)
	}
	if r := postForm(t, s, "/login", "/login", bad); r.status != 422 {
		t.Fatalf("after Clear: status %d", r.status)
	}
}
