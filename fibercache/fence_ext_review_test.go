package fibercache

import (
	"testing"
	"time"
)

// A render whose path record is near expiry extends it (same nonce) after
// storing its page. An InvalidatePath on instance B that ran wholly during
// that render (data changed, fence and record rewritten, returned) must
// not be undone by the extension's write: while A is between its record
// write and its fence read, B must not serve the old page of /p.
func TestRecordExtensionAfterInvalidatePathBringsNothingBack(t *testing.T) {
	s := newSite(t, false)
	expect(t, "first render", get(t, s.a.app, "/p").xcache(), "MISS")
	expect(t, "on B", get(t, s.b.app, "/p").xcache(), "HIT")
	// The record near expiry: the next render of the path extends it.
	rkey := string(appendPathKey(nil, keyRecord, "/p"))
	r, err := s.a.cache.Peek(rkey)
	if err != nil || r.Value == nil {
		t.Fatalf("no record: %v", err)
	}
	if err := s.a.cache.Set(rkey, r.Value, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	h := s.holdRender()
	done := async(t, s.a, "/p?x=1") // another variant of the path, under the same record
	<-h.rendering
	s.data.Store("v2")
	if err := InvalidatePath(s.b.cache, "/p"); err != nil {
		t.Fatal(err)
	}
	// InvalidatePath has returned. A's fence read after its extension
	// write is held, if it makes one.
	p := s.a.store.pause("GET", ":fcf:", false)
	close(h.proceed)
	select {
	case <-p.reached:
		if body, xc, _ := fetchAsync(s.b.app, "/p"); body == "v1" {
			t.Errorf("B served the old page (X-Cache %s) after InvalidatePath returned: the extension wrote the old nonce back", xc)
		}
		close(p.release)
		<-done
	case <-done:
		s.a.store.mu.Lock()
		s.a.store.p = nil
		s.a.store.mu.Unlock()
	}
	s.noStale(t, "/p", "v2")
}
