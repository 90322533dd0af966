package loader_test

import (
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/cachekit/cachekit/loader"
	"github.com/gofiber/fiber/v2"
)

// The one-line swap: html.New("./views", ".html") becomes loader.New; the
// rest of the application does not change.
func Example() {
	engine := loader.New("./testdata/defines", ".html") // was: html.New("./testdata/defines", ".html")

	app := fiber.New(fiber.Config{Views: engine})
	app.Get("/", func(c *fiber.Ctx) error {
		return c.Render("pages/b", fiber.Map{}, "layouts/base")
	})

	resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// <html><head><title>Page B</title></head>
	// <body><aside>default sidebar</aside><main>
	//
	//
	// <h1>B</h1><p>content B</p>
	// </main></body></html>
}
