// Package unixnano converts times to the unix nanoseconds the stores keep,
// without overflowing.
package unixnano

import (
	"math"
	"time"
)

// Max is the latest time that unix nanoseconds can hold (year 2262).
var Max = time.Unix(0, math.MaxInt64)

// Of is t.UnixNano, saturated at Max instead of overflowing.
func Of(t time.Time) int64 {
	if t.After(Max) {
		return math.MaxInt64
	}
	return t.UnixNano()
}
