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
