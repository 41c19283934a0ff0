package memory

import "github.com/caddy-logout/caddy-logout/session"

// expiry says when a record written for id stops mattering.
type expiry struct {
	at int64 // unix nanoseconds
	id session.ID
}

// expiryHeap is a min-heap on at, for container/heap.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }

func (h *expiryHeap) Pop() any {
	old := *h
	last := old[len(old)-1]
	*h = old[:len(old)-1]
	return last
}
