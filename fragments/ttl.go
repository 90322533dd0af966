package fragments

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// toTTL converts a ttl argument: integer (or float) seconds, a
// time.Duration, or a string holding either a Go duration or seconds. A
// negative one means what it means in the core: nothing is stored. nil is an
// error here (a missing map key reads as nil): write a literal nil, or pass
// cachekit.NoExpiry, for a block that never expires.
func toTTL(v reflect.Value) (time.Duration, error) {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() || ((v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && v.IsNil()) {
		return 0, errors.New("ttl is nil")
	}
	var d time.Duration
	switch {
	case v.Type() == durationType:
		d = time.Duration(v.Int())
	case v.CanInt():
		return secondsTTL(float64(v.Int()), false, v)
	case v.CanUint():
		if v.Uint() > math.MaxInt64 {
			return 0, fmt.Errorf("ttl %d is too large", v.Uint())
		}
		return secondsTTL(float64(v.Uint()), false, v)
	case v.CanFloat():
		return secondsTTL(v.Float(), false, v)
	case v.Kind() == reflect.String:
		return parseTTL(v.String(), true)
	default:
		return 0, fmt.Errorf("ttl is a %s: want seconds, a duration string such as \"5m\", or a time.Duration", v.Type())
	}
	return d, nil
}

// secondsTTL converts s seconds; a negative s is an error when refuse is
// set (a literal in the template), else a TTL that stores nothing.
func secondsTTL(s float64, refuse bool, v reflect.Value) (time.Duration, error) {
	if math.IsNaN(s) || refuse && s < 0 {
		return 0, fmt.Errorf("ttl %v is negative: write 0 to render every time", v)
	}
	if math.Abs(s)*float64(time.Second) >= math.MaxInt64 {
		return 0, fmt.Errorf("ttl %v seconds is too large", v)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// parseTTL parses a string ttl: a Go duration ("5m", "1h30m") or seconds
// ("300"). A negative one is an error for a literal (not dynamic), else a
// TTL that stores nothing.
func parseTTL(s string, dynamic bool) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return secondsTTL(float64(n), !dynamic, reflect.ValueOf(n))
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("ttl %q is neither seconds nor a duration such as \"5m\"", s)
	}
	if d < 0 && !dynamic {
		return 0, fmt.Errorf("ttl %q is negative: write 0 to render every time", s)
	}
	return d, nil
}
