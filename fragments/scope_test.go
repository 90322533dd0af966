package fragments_test

import (
	"strings"
	"testing"
)

func TestOuterVariablesAndDot(t *testing.T) {
	c := newCache(t)
	tm := load(t, c, nil, "vars.html")
	ref := reference(t, nil, "vars.html")
	data := map[string]any{
		"Site":     "example.org",
		"User":     &user{9, "Zoe <admin>"},
		"Products": []row{{1, "a&b"}, {2, "<i>b</i>"}},
	}
	want := render(t, ref, "vars.html", data)
	for i := 0; i < 2; i++ { // miss, then hit
		if got := render(t, tm, "vars.html", data); got != want {
			t.Fatalf("render %d\n got %q\nwant %q", i, got, want)
		}
	}
	if !strings.Contains(want, `<li class="row-1">1/2 &lt;i&gt;b&lt;/i&gt; &lt;i&gt;b&lt;/i&gt; label-&lt;i&gt;b&lt;/i&gt; for Zoe &lt;admin&gt; on example.org (Zoe &lt;admin&gt; again, 2)</li>`) {
		t.Fatalf("reference is not what the test means: %q", want)
	}
	// nil data: dot and $ are missing values inside the block too.
	c2 := newCache(t)
	tm2 := load(t, c2, nil, "vars.html")
	var a, b strings.Builder
	errA := tm2.Execute(&a, nil)
	errB := ref.Execute(&b, nil)
	if (errA == nil) != (errB == nil) || a.String() != b.String() {
		t.Fatalf("nil data: got %q, %v; want %q, %v", a.String(), errA, b.String(), errB)
	}
}
