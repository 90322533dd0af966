package keys

import (
	"strings"
	"testing"
)

func TestCheckPrefix(t *testing.T) {
	for _, tc := range []struct {
		name, p, forbid, want string
	}{
		{"empty", "", "", ""},
		{"plain", "site-1.prod", "", ""},
		{"too long", strings.Repeat("x", 65), "", "at most 64"},
		{"space", "a b", "", "without spaces or ':'"},
		{"colon", "a:b", "", "at 1"},
		{"forbidden", "a|b", "|", "without spaces, ':' or '|'"},
		{"two forbidden", "a|b", "|,", "without spaces, ':', '|' or ','"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPrefix("Config.Prefix", tc.p, tc.forbid)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "Config.Prefix") {
				t.Fatalf("error %v, want one naming the field and saying %q", err, tc.want)
			}
		})
	}
}

func TestAppend(t *testing.T) {
	if got := string(Append([]byte("p:"), "key", 10)); got != "p:key" {
		t.Fatalf("short safe key: %q", got)
	}
	for _, k := range []string{"#key", "a b", strings.Repeat("k", 20)} {
		got := string(Append([]byte("p:"), k, 10))
		if len(got) != 2+DigestLen || got[2] != DigestMark {
			t.Fatalf("key %q: %q, want a digest", k, got)
		}
	}
}

// TestSafeEveryByte: the word-at-a-time check agrees with the byte rule
// for every byte at every position of a word and of the tail.
func TestSafeEveryByte(t *testing.T) {
	for n := 1; n <= 43; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				want := c > ' ' && c < 0x7f && !(pos == 0 && c == DigestMark)
				if got := Safe(b); got != want {
					t.Fatalf("Safe(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

func FuzzSafe(f *testing.F) {
	f.Add([]byte("fcp:|abc|G0h11:example.com"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := len(b) == 0 || b[0] != DigestMark
		for _, c := range b {
			want = want && c > ' ' && c < 0x7f
		}
		if Safe(b) != want {
			t.Fatalf("Safe(%q) = %v", b, !want)
		}
	})
}

// TestPrintableEveryByte: Printable, words and the overlapping last word,
// agrees with the byte rule for every byte at every position (a leading
// DigestMark is printable).
func TestPrintableEveryByte(t *testing.T) {
	for n := 0; n <= 43; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				want := true
				if n > 0 {
					b[pos] = byte(c)
					want = c > ' ' && c < 0x7f
				}
				if got := Printable(b); got != want {
					t.Fatalf("Printable(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

func FuzzPrintable(f *testing.F) {
	f.Add([]byte("0123456789abcdef|G0h11:example.com"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := true
		for _, c := range b {
			want = want && c > ' ' && c < 0x7f
		}
		if Printable(b) != want {
			t.Fatalf("Printable(%q) = %v", b, !want)
		}
	})
}
