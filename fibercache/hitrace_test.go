package fibercache

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestHitPathNeverServesAnInvalidatedPage: requests hit /p from the hot
// layer (its page decoded once, in the memo of the kept value) while the
// data it is rendered from changes and its tag is invalidated, again and
// again; a request that begins after InvalidateTags returned is never
// answered with a page rendered from the data before it.
func TestHitPathNeverServesAnInvalidatedPage(t *testing.T) {
	c := newCache(t)
	app := newApp()
	app.Use(New(Config{Cache: c, TTL: time.Hour}))
	var data atomic.Int64
	app.Get("/p", func(fc *fiber.Ctx) error {
		Tag(fc, "t")
		return fc.SendString("v" + strconv.FormatInt(data.Load(), 10))
	})
	var done atomic.Bool
	var floor atomic.Int64 // the data every request that begins now must see at least
	var hits atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				min := floor.Load()
				r := get(t, app, "/p")
				n, err := strconv.ParseInt(strings.TrimPrefix(r.body, "v"), 10, 64)
				if err != nil || n < min {
					select {
					case errs <- r.xcache() + " " + r.body + " after the invalidation of v" + strconv.FormatInt(min-1, 10):
					default:
					}
					return
				}
				if r.xcache() == "HIT" {
					hits.Add(1)
				}
			}
		}()
	}
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for i := 1; i <= rounds; i++ {
		data.Store(int64(i))
		check(t, c.InvalidateTags("t"))
		floor.Store(int64(i))
		time.Sleep(200 * time.Microsecond)
	}
	done.Store(true)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
	if hits.Load() == 0 {
		t.Fatal("no hits")
	}
}
