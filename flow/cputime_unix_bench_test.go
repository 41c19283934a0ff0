//go:build unix

package flow

import (
	"syscall"
	"testing"
)

// cpuTimer reports the process's CPU time per iteration (user + system,
// every thread: the benchmark's loop, the GC and ristretto's policy
// goroutine) as cpu-ns/op. On a machine shared with other work, ns/op
// counts the time the benchmark waited for a core; cpu-ns/op does not.
// Call it before the loop and the returned function after it.
func cpuTimer(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
