package fragments

import (
	"fmt"
	"html/template"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/redis/v3"
)

// The attack on a key that is a hash: two vary values whose encodings hash
// alike share the key, so each finds the other's fragment there. Here the
// collision is made by construction (rewrite's collide hook gives every
// key of a block one hash) and a block must still never serve one value's
// fragment for the other: the stored encoding is compared on every hit,
// through each way a fragment is read (the hot layer, Load, a range's
// prefetch), over the embedded Memory and over Redis.

type collUser struct {
	ID   int
	Name string
}

type collAcct struct { // a struct vary value: the general encoding
	Org, Team string
}

const collideSrc = `{{define "page"}}` +
	`{{cache "card" 300 .U.ID}}<p>{{.U.Name}}</p>{{endcache}}` +
	`|{{cache "dyn" .TTL .U.ID .U.Name}}<i>{{.U.Name}}</i>{{endcache}}` +
	`|{{cache "acct" 300 .A (tags "acct")}}<b>{{.A.Org}}/{{.A.Team}}</b>{{endcache}}` +
	`|{{range .L}}{{cache "row" 300 .ID}}<li>{{.Name}}</li>{{endcache}}{{end}}` +
	`{{end}}`

type collData struct {
	U   collUser
	TTL string
	A   collAcct
	L   []collUser
}

func collideWant(d collData) string {
	var rows strings.Builder
	for _, u := range d.L {
		fmt.Fprintf(&rows, "<li>%s</li>", u.Name)
	}
	return fmt.Sprintf("<p>%s</p>|<i>%s</i>|<b>%s/%s</b>|%s", d.U.Name, d.U.Name, d.A.Org, d.A.Team, rows.String())
}

func collideData(i int) collData {
	u := collUser{i, "user-" + strconv.Itoa(i)}
	if i%2 == 0 { // an encoding longer than a block's stack room and a one-byte length
		u.Name += strings.Repeat("-long", 30)
	}
	return collData{
		U:   u,
		TTL: "5m",
		A:   collAcct{"org" + strconv.Itoa(i%3), "team" + strconv.Itoa(i)},
		L:   []collUser{u, {i + 100, "row-" + strconv.Itoa(i+100)}, {i + 200, "row-" + strconv.Itoa(i+200)}},
	}
}

func collideSet(t *testing.T, c *cachekit.Cache) *template.Template {
	t.Helper()
	tm := template.Must(template.New("x").Funcs(Funcs()).Parse(collideSrc))
	if err := rewrite(tm, c, true); err != nil {
		t.Fatal(err)
	}
	return tm
}

func renderPage(tm *template.Template, d collData) (string, error) {
	var b strings.Builder
	err := tm.ExecuteTemplate(&b, "page", d)
	return b.String(), err
}

func testCollisions(t *testing.T, c *cachekit.Cache) {
	tm := collideSet(t, c)
	// The hook works: the two users' cards are under one key.
	k := "fragment:card:" + strings.Repeat("0", 32)
	for round := range 3 {
		for _, i := range []int{1, 2, 1, 1, 2, 3} {
			d := collideData(i)
			got, err := renderPage(tm, d)
			if err != nil {
				t.Fatal(err)
			}
			if want := collideWant(d); got != want {
				t.Fatalf("round %d, user %d: got %q, want %q", round, i, got, want)
			}
			if r, err := c.Peek(k); err != nil || r.Status != cachekit.Hit || !strings.Contains(string(r.Value), d.U.Name) {
				t.Fatalf("round %d, user %d: the shared key holds %q (%v, %v), not this user's card", round, i, r.Value, r.Status, err)
			}
		}
	}
	// Concurrent renders of colliding values each get their own.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for n := range 200 {
				d := collideData(1 + (g+n)%5)
				got, err := renderPage(tm, d)
				if err == nil && got != collideWant(d) {
					err = fmt.Errorf("user %d: got %q, want %q", d.U.ID, got, collideWant(d))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCollidingKeysMemory(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	testCollisions(t, cachekit.New(cachekit.Config{Storage: m}))
}

func TestCollidingKeysRedis(t *testing.T) {
	host, port, _ := net.SplitHostPort(testserver.Addr(t, "CACHEKIT_REDIS_ADDR"))
	p, _ := strconv.Atoi(port)
	s := redis.New(redis.Config{Host: host, Port: p})
	t.Cleanup(func() { s.Close() })
	var store fiber.Storage = s
	c := cachekit.New(cachekit.Config{Storage: store, Prefix: "coll" + strconv.FormatUint(rand.Uint64(), 36), Timeout: 2 * time.Second})
	if !c.Remote() {
		t.Fatal("a Redis store is not remote: the range prefetch is not tried")
	}
	testCollisions(t, c)
}

// An entry in the layout before the vary encoding was stored (digest, then
// HTML), under a block's key and with its digest, is a miss: it is never
// read as a fragment.
func TestOldLayoutMisses(t *testing.T) {
	m, err := cachekit.NewMemory(cachekit.MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := cachekit.New(cachekit.Config{Storage: m})
	tm := template.Must(template.New("x").Funcs(Funcs()).Parse(`{{cache "c" 300 .}}<p>{{.}}</p>{{endcache}}`))
	if err := Rewrite(tm, c); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tm.Execute(&b, 7); err != nil || b.String() != "<p>7</p>" {
		t.Fatalf("%q, %v", b.String(), err)
	}
	key, err := Key("c", 7)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Peek(key)
	if err != nil || r.Status != cachekit.Hit || len(r.Value) < digestLen {
		t.Fatalf("%v %v %q", r.Status, err, r.Value)
	}
	for _, old := range []string{"<p>forged</p>", "\x02\x02forged", "\x7f"} {
		if err := c.Set(key, append(r.Value[:digestLen:digestLen], old...), time.Minute); err != nil {
			t.Fatal(err)
		}
		b.Reset()
		if err := tm.Execute(&b, 7); err != nil || b.String() != "<p>7</p>" {
			t.Fatalf("%q stored: rendered %q, %v", old, b.String(), err)
		}
	}
}
