package unixnano

import (
	"math"
	"testing"
	"time"
)

func TestOf_SaturatesInsteadOfOverflowing(t *testing.T) {
	now := time.Now()
	if got := Of(now); got != now.UnixNano() {
		t.Errorf("Of(now) = %d, want %d", got, now.UnixNano())
	}
	if got := Of(Max); got != math.MaxInt64 {
		t.Errorf("Of(Max) = %d, want MaxInt64", got)
	}
	if got := Of(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MaxInt64 {
		t.Errorf("Of(year 9999) = %d, want MaxInt64", got)
	}
}
