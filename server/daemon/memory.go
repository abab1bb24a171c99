package daemon

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory after a spike. A listing of 100,000 entries holds tens of MiB for
// a moment; once it is done the Go runtime keeps that memory (the garbage
// until a collection it has no reason to start while idle, the freed pages
// until its background scavenger gets round to them), and the process
// stays tens of MiB above its baseline for minutes. returnMemory checks
// every memoryCheck how much heap the process holds and, while it holds
// more than memorySlack above the least it has held, collects and gives
// the free pages back (debug.FreeOSMemory). On a busy server that is one
// extra collection every memoryCheck at most.
const (
	memoryCheck = 10 * time.Second
	memorySlack = 16 << 20
)

// heapHeld is the heap the process holds from the system: objects (live or
// garbage not yet collected), and free or unused space not given back.
func heapHeld(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	var n uint64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			n += s.Value.Uint64()
		}
	}
	return n
}

// returnMemory runs until ctx is done (see memoryCheck).
func returnMemory(ctx context.Context, log *slog.Logger) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	least := heapHeld(samples)
	t := time.NewTicker(memoryCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held := heapHeld(samples)
		if held <= least+memorySlack {
			least = min(least, held)
			continue
		}
		debug.FreeOSMemory()
		after := heapHeld(samples)
		least = min(least, after)
		log.Debug("memory given back after a spike", "held_mib", held>>20, "now_mib", after>>20)
	}
}
