package fibercache

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// stampede sends n concurrent requests for one cold page to a listening
// server and returns how many times the handler ran behind the middleware
// mw.
func stampede(t testing.TB, n int, mw fiber.Handler) int64 {
	t.Helper()
	app := newApp()
	app.Use(mw)
	var runs atomic.Int64
	app.Get("/cold", func(c *fiber.Ctx) error {
		runs.Add(1)
		time.Sleep(200 * time.Millisecond) // a slow render
		c.Type("html")
		return c.SendString(bigPage)
	})
	base := listen(t, app)
	client := newClient(t, n)
	// Open the connections first, so that the requests land together.
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	var bad atomic.Int64
	for i := 0; i < n; i++ {
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			r := fetch(t, client, base+"/cold")
			if r.status != 200 || r.body != bigPage {
				bad.Add(1)
			}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d requests got a wrong answer", bad.Load())
	}
	return runs.Load()
}
