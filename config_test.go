package cachekit

import (
	"strings"
	"testing"
)

// New reports every problem of a Config at once, each naming its field.
func TestConfigValidate(t *testing.T) {
	m := newTestMemory(t, MemoryConfig{MaxBytes: 4 << 20})
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // each in Err(); none: no error
	}{
		{"zero but the store", Config{Storage: m}, nil},
		{"negative timeout means no bound", Config{Storage: shared{m}, Timeout: -1}, nil},
		{"prefix", Config{Prefix: "has space"}, []string{"Config.Prefix"}},
		{"long prefix", Config{Prefix: strings.Repeat("p", 65)}, []string{"Config.Prefix", "at most 64"}},
		{"negatives", Config{CircuitThreshold: -1, CircuitCooldown: -1, LocalTTL: -1},
			[]string{"Config.CircuitThreshold", "Config.CircuitCooldown", "Config.LocalTTL"}},
		{"local is storage", Config{Storage: m, Local: m}, []string{"Config.Local"}},
		{"bus without local", Config{Bus: nopBus{}}, []string{"Config.Bus"}},
		{"all at once", Config{Prefix: "a:b", LocalTTL: -1, Bus: nopBus{}},
			[]string{"Config.Prefix", "Config.LocalTTL", "Config.Bus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New(tc.cfg).Err()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Err() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Err() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Err() = %v, want it to name %s", err, w)
				}
			}
		})
	}
}

type nopBus struct{}

func (nopBus) Publish(string) error                            { return nil }
func (nopBus) Subscribe(func(string)) (stop func(), err error) { return func() {}, nil }
