package storetest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/internal/testserver"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/memcache"
	"github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
)

// deadNodePages is how many tagged pages each Cache serves: enough that the
// share on the dead node is near a third (standard deviation under 3%).
const deadNodePages = 300

// One node of three dies (killed): no request fails, every body is right,
// no request waits long, and the page hits whose entry lives on the other
// nodes stay hits. A page hit reads its path record and its entry (on one
// node: they share a hash tag) and its tag's generation: with one key per
// generation that is two nodes, about (2/3)^2 of the hits survive; with
// Replicas 3, one, about 2/3, which must reach 60%. Both Caches run over
// the same store and outage, side by side. Logged: the hit ratios before
// and during the outage, and the p99.
func deadNode(t *testing.T, store fiber.Storage, kill func()) {
	type peer struct {
		name string
		c    *cachekit.Cache
		app  *fiber.App
	}
	var peers []peer
	for _, r := range []int{1, 3} {
		// A killed node refuses at once: no circuit opens. A short
		// cooldown keeps a call that ran out of time on a loaded machine
		// during the warm-up from shutting out its keys for long.
		c := cachekit.New(cachekit.Config{Storage: store, Prefix: prefix(), Timeout: 100 * time.Millisecond,
			CircuitCooldown: 500 * time.Millisecond, Logger: quiet(), Replicas: r})
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, peer{"Replicas " + strconv.Itoa(r), c, pageApp(c)})
	}
	for _, p := range peers {
		for id := 0; id < deadNodePages; id++ {
			// Up to ten tries, with a pause after the third: on a loaded
			// machine a store call may run out of its 100 ms, and the
			// page is then not stored.
			path, hit := "/p/"+strconv.Itoa(id), false
			for try := 0; try < 10 && !hit; try++ {
				if try >= 3 {
					time.Sleep(300 * time.Millisecond)
				}
				_, x, _ := get(t, p.app, path)
				hit = x == "HIT"
			}
			if !hit {
				t.Fatalf("%s: %s never became a hit: %+v", p.name, path, p.c.Stats())
			}
		}
	}
	round := func(app *fiber.App, what string) (ratio float64, p99 time.Duration) {
		var took []time.Duration
		hits := 0
		for r := 0; r < 2; r++ {
			for id := 0; id < deadNodePages; id++ {
				start := time.Now()
				code, x, body := get(t, app, "/p/"+strconv.Itoa(id))
				took = append(took, time.Since(start))
				if code != 200 || body != "product "+strconv.Itoa(id) {
					t.Fatalf("%s: /p/%d answered %d %q", what, id, code, body)
				}
				if x == "HIT" {
					hits++
				}
			}
		}
		slices.Sort(took)
		return float64(hits) / float64(len(took)), took[len(took)*99/100]
	}
	before := make([]float64, len(peers))
	p99before := make([]time.Duration, len(peers))
	for i, p := range peers {
		before[i], p99before[i] = round(p.app, p.name+", all nodes up")
	}
	kill()
	time.Sleep(2500 * time.Millisecond) // a cluster marks the master failed after cluster-node-timeout (2 s)
	for i, p := range peers {
		during, p99 := round(p.app, p.name+", one node dead")
		t.Logf("%s: page hits %.0f%% with every node up (p99 %v); %.1f%% with one of three dead (p99 %v); %+v",
			p.name, 100*before[i], p99before[i], 100*during, p99, p.c.Stats())
		if p99 > 500*time.Millisecond { // 250 ms is the goal; a loaded test machine gets a margin
			t.Errorf("%s: p99 %v with one node dead", p.name, p99)
		}
		// (2/3)^2 is 44%, 2/3 67%: 30% and 60% leave room for where the
		// pages' keys happen to fall.
		if min := map[int]float64{0: 0.30, 1: 0.60}[i]; during < min {
			t.Errorf("%s: %.1f%% of page hits survive one dead node of three, want at least %.0f%%", p.name, 100*during, 100*min)
		}
	}
}

func TestMemcachedOneNodeDead(t *testing.T) {
	nodes := []*testserver.Process{testserver.Memcached(t), testserver.Memcached(t), testserver.Memcached(t)}
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	store := memcache.New(memcache.Config{Servers: strings.Join(addrs, ",")})
	deadNode(t, store, nodes[1].Kill)
}

func TestRedisClusterOneMasterDead(t *testing.T) {
	cluster := testserver.RedisCluster(t)
	client := goredis.NewClusterClient(clusterOptions(cluster.Addrs()))
	t.Cleanup(func() { client.Close() })
	deadNode(t, redis.NewFromConnection(client), cluster.Nodes[1].Kill)
}
