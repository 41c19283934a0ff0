//go:build race

package flow

// raceEnabled: under -race, sync.Pool drops a share of what is put back,
// so pooled buffers are allocated again now and then.
const raceEnabled = true
