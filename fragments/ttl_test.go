package fragments_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
)

// TestTTLMeaning: a ttl from the data means what it means in the core
// (cachekit.NoExpiry): 0 and negative render every time and store nothing,
// NoExpiry never expires, DefaultTTL is the Cache's Config.DefaultTTL.
func TestTTLMeaning(t *testing.T) {
	const def = 200 * time.Millisecond // the Cache's Config.DefaultTTL
	for _, tc := range []struct {
		name    string
		ttl     any
		stored  bool
		expires bool // re-rendered once def has passed
	}{
		{"duration", time.Minute, true, false},
		{"NoExpiry", cachekit.NoExpiry, true, false},
		{"DefaultTTL", cachekit.DefaultTTL, true, true},
		{"short", def / 2, true, true},
		{"zero", 0, false, false},
		{"zero string", "0s", false, false},
		{"negative seconds", -1, false, false},
		{"negative duration", -time.Second, false, false},
		{"negative string", "-5m", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			c := cachekit.New(cachekit.Config{Storage: m, DefaultTTL: def})
			w := newCounters()
			tm := load(t, c, w.funcs(), "ttl.html")
			data := map[string]any{"TTL": tc.ttl}
			render(t, tm, "ttl.html", data)
			got := render(t, tm, "ttl.html", data)
			want := "ttl render 1"
			if !tc.stored {
				want = "ttl render 2"
			}
			if !strings.Contains(got, want) {
				t.Fatalf("second render %q, want %q", got, want)
			}
			if st := c.Stats(); (st.Stores != 0) != tc.stored {
				t.Fatalf("%d stores, stored %v", st.Stores, tc.stored)
			}
			if !tc.stored {
				return
			}
			time.Sleep(def + 100*time.Millisecond)
			want = "ttl render 1"
			if tc.expires {
				want = "ttl render 2"
			}
			if got := render(t, tm, "ttl.html", data); !strings.Contains(got, want) {
				t.Fatalf("after %v: %q, want %q", def+100*time.Millisecond, got, want)
			}
		})
	}
}

// TestTTLLiteralNil: {{cache "x" nil}} never expires (Django's
// {% cache None %}); {{cache "x" 0}} renders every time.
func TestTTLLiteralNil(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := cachekit.New(cachekit.Config{Storage: m, DefaultTTL: 100 * time.Millisecond})
	w := newCounters()
	tm := load(t, c, w.funcs(), "ttlnil.html")
	render(t, tm, "ttlnil.html", nil)
	time.Sleep(200 * time.Millisecond)
	if got, want := render(t, tm, "ttlnil.html", nil), "forever 1 zero 2\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
