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

// One node of three dies (killed): no request fails, every body is right,
// no request waits long, and (minHits) the pages whose keys all live on
// the other nodes stay hits: a tagged page hit reads three keys (its path
// record, its entry, its tag's generation), so about (2/3)^3 of them.
// Logged: the hit ratio before and during the outage, and the p99.
func deadNode(t *testing.T, store fiber.Storage, kill func(), minHits float64) {
	c := cachekit.New(cachekit.Config{Storage: store, Prefix: prefix(), MaxKeyLen: 64, Timeout: 100 * time.Millisecond, Logger: quiet()})
	app := pageApp(c)
	const pages = 90
	for id := 0; id < pages; id++ {
		warm(t, app, "/p/"+strconv.Itoa(id))
	}
	round := func(what string) (ratio float64, p99 time.Duration) {
		var took []time.Duration
		hits := 0
		for r := 0; r < 3; r++ {
			for id := 0; id < pages; id++ {
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
	before, p99before := round("all nodes up")
	kill()
	time.Sleep(2500 * time.Millisecond) // a cluster marks the master failed after cluster-node-timeout (2 s)
	during, p99 := round("one node dead")
	t.Logf("page hits: %.0f%% with every node up (p99 %v); %.0f%% with one of three dead (p99 %v); %+v",
		100*before, p99before, 100*during, p99, c.Stats())
	if p99 > 500*time.Millisecond { // 250 ms is the goal; a loaded test machine gets a margin
		t.Fatalf("p99 %v with one node dead", p99)
	}
	if during < minHits {
		t.Fatalf("%.0f%% of page hits survive one dead node of three", 100*during)
	}
}

func TestMemcachedOneNodeDead(t *testing.T) {
	nodes := []*testserver.Process{testserver.Memcached(t), testserver.Memcached(t), testserver.Memcached(t)}
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	store := memcache.New(memcache.Config{Servers: strings.Join(addrs, ",")})
	deadNode(t, store, nodes[1].Kill, 0.2)
}

func TestRedisClusterOneMasterDead(t *testing.T) {
	cluster := testserver.RedisCluster(t)
	client := goredis.NewClusterClient(clusterOptions(cluster.Addrs()))
	t.Cleanup(func() { client.Close() })
	deadNode(t, redis.NewFromConnection(client), cluster.Nodes[1].Kill, 0.2)
}
