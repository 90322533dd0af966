package fibercache

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/cachekit/cachekit"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func BenchmarkSmokeHit(b *testing.B) {
	app := fiber.New()
	app.Use(New(Config{Cache: benchCache}))
	page := []byte(strings.Repeat("<p>hello world</p>\n", 130))
	app.Get("/", func(c *fiber.Ctx) error { c.Type("html"); return c.Send(page) })
	h := app.Handler()
	raw := []byte("GET /?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: text/html\r\nAccept-Encoding: gzip, br\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		bw := bufio.NewWriter(io.Discard)
		for pb.Next() {
			rd.Reset(raw)
			br.Reset(rd)
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.ResetUserValues()
			if err := ctx.Request.Read(br); err != nil {
				b.Fatal(err)
			}
			h(&ctx)
			ctx.Response.Write(bw)
			bw.Flush()
		}
	})
}

func BenchmarkSmokePrebuilt(b *testing.B) {
	app := fiber.New()
	page := []byte(strings.Repeat("<p>hello world</p>\n", 130))
	app.Get("/", func(c *fiber.Ctx) error { c.Type("html"); return c.Send(page) })
	h := app.Handler()
	raw := []byte("GET /?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: text/html\r\nAccept-Encoding: gzip, br\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		ctx.Init(&fasthttp.Request{}, nil, nil)
		rd := bytes.NewReader(raw)
		br := bufio.NewReader(rd)
		bw := bufio.NewWriter(io.Discard)
		for pb.Next() {
			rd.Reset(raw)
			br.Reset(rd)
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.ResetUserValues()
			if err := ctx.Request.Read(br); err != nil {
				b.Fatal(err)
			}
			h(&ctx)
			ctx.Response.Write(bw)
			bw.Flush()
		}
	})
}

var benchCache = func() *cachekit.Cache {
	m, _ := cachekit.NewMemory(cachekit.MemoryConfig{MaxBytes: 32 << 20})
	return cachekit.New(cachekit.Config{Storage: m})
}()
