//go:build !unix

package flow

import "testing"

// cpuTimer reports nothing where getrusage is missing.
func cpuTimer(*testing.B) func() { return func() {} }
