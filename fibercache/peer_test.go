// The peer: fiber's own middleware/cache, measured in the same run.

package fibercache

import (
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cache"
)

func init() {
	benchVariants = slices.Insert(benchVariants, 2, benchVariant{"fiber-cache-hit", func(testing.TB) *fiber.App {
		app := fiber.New()
		app.Use(cache.New(cache.Config{Expiration: time.Hour}))
		app.Get("/blog", renderPage)
		return app
	}})
}

func TestColdStampedePeer(t *testing.T) {
	ours := stampede(t, 500, New(Config{Cache: newCache(t)}))
	peer := stampede(t, 500, cache.New(cache.Config{Expiration: time.Minute}))
	t.Logf("500 concurrent cold requests: fibercache ran the handler %d time(s), fiber's middleware/cache %d", ours, peer)
	expect(t, "fibercache handler runs", ours, int64(1))
}
