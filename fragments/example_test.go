package fragments_test

import (
	"fmt"
	"html/template"
	"os"

	"github.com/cachekit/cachekit"
	"github.com/cachekit/cachekit/fragments"
)

// A sidebar that is expensive to compute is cached for five minutes per
// user; the rest of the page renders on every request.
func Example() {
	cache := cachekit.New(cachekit.Config{})

	renders := 0
	expensive := func(name string) string {
		renders++ // a database query, say
		return "recommended for " + name
	}

	page := template.Must(template.New("page").
		Funcs(fragments.Funcs()). // so that {{cache}} and {{endcache}} parse
		Funcs(template.FuncMap{"recommend": expensive}).
		Parse(`<h1>{{.Title}}</h1>
{{cache "sidebar" "5m" .User.ID}}<aside>{{recommend .User.Name}}</aside>{{endcache}}
`))
	if err := fragments.Rewrite(page, cache); err != nil {
		panic(err)
	}

	type User struct {
		ID   int
		Name string
	}
	data := map[string]any{"Title": "Home", "User": User{7, "Ann & Bob"}}
	_ = page.Execute(os.Stdout, data) // a miss: renders the sidebar
	data["Title"] = "Shop"
	_ = page.Execute(os.Stdout, data) // a hit: the stored sidebar
	fmt.Println("sidebar rendered", renders, "time(s)")

	// When Ann's recommendations change:
	_ = fragments.Invalidate(cache, "sidebar", 7)
	_ = page.Execute(os.Stdout, data)
	fmt.Println("sidebar rendered", renders, "time(s)")

	// Output:
	// <h1>Home</h1>
	// <aside>recommended for Ann &amp; Bob</aside>
	// <h1>Shop</h1>
	// <aside>recommended for Ann &amp; Bob</aside>
	// sidebar rendered 1 time(s)
	// <h1>Shop</h1>
	// <aside>recommended for Ann &amp; Bob</aside>
	// sidebar rendered 2 time(s)
}

// Every fragment of a block carries the block's tag, so invalidating the tag
// drops every variant at once, as Invalidate(cache, "sidebar") does.
func ExampleBlockTag() {
	cache := cachekit.New(cachekit.Config{})
	fmt.Println(fragments.BlockTag("sidebar"))
	_ = cache.InvalidateTags(fragments.BlockTag("sidebar"))
	// Output: fragment:sidebar
}
