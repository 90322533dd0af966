// Command sample-site is a small site that runs on cachekit: go run ./sample-site
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	flag.Parse()

	app := newApp(cachekit.Default())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(os.Stderr, "sample-site: %s is taken by another program; pick another with -addr 127.0.0.1:3001\n", *addr)
			os.Exit(1)
		}
		log.Fatalf("sample-site: %v", err)
	}
	fmt.Printf("sample-site: http://%s\n", ln.Addr())
	log.Fatal(app.Listener(ln))
}

func newApp(cache *cachekit.Cache) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error {
		page, err := cache.GetOrSet("home", 30*time.Second, func() ([]byte, error) {
			return []byte(fmt.Sprintf("<!doctype html><title>cachekit</title><h1>Rendered at %s</h1>", time.Now().Format(time.RFC3339Nano))), nil
		})
		if err != nil {
			return err
		}
		c.Type("html")
		return c.Send(page)
	})
	return app
}
