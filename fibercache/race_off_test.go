//go:build !race

package fibercache

// raceEnabled: built with the race detector (its sync.Pool drops items at
// random, so allocation counts do not hold).
const raceEnabled = false
