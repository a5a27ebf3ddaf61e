// A Go workload that profiles itself with runtime/pprof, so that profd's profile of it can be
// compared with Go's own. A mix of frameless leaves (a hash loop; runtime.memmove and
// runtime.memclrNoHeapPointers under byte slices that grow), runtime code with frames (maps,
// malloc) and library code (strconv).
// usage: go-pprof WARMUP SECONDS OUTPUT [HZ]: works for WARMUP seconds (the heap reaches its steady
// size), prints "profiling", then profiles itself for SECONDS into OUTPUT.
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

var sink uint64

var chunk = make([]byte, 1000)

// Appends to a growing byte slice: growslice allocates, clears and copies.
//
//go:noinline
func growBytes(n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, chunk...)
	}
	return b
}

// FNV-1a over the bytes: a frameless leaf.
//
//go:noinline
func hashBytes(data []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range data {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

//go:noinline
func fillMap(m map[int]int, n int) {
	for i := 0; i < n; i++ {
		m[i%4096] += i
	}
}

//go:noinline
func formatNumbers(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += len(strconv.Itoa(i * 7919))
	}
	return s
}

func work(m map[int]int, seconds float64) {
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for time.Now().Before(end) {
		b := growBytes(300)
		sink += hashBytes(b)
		fillMap(m, 100000)
		sink += uint64(formatNumbers(20000))
	}
}

func main() {
	if len(os.Args) < 4 {
		os.Stderr.WriteString("usage: go-pprof WARMUP SECONDS OUTPUT [HZ]\n")
		os.Exit(2)
	}
	warmup, err1 := strconv.ParseFloat(os.Args[1], 64)
	seconds, err2 := strconv.ParseFloat(os.Args[2], 64)
	if err1 != nil || err2 != nil {
		os.Exit(2)
	}
	out, err := os.Create(os.Args[3])
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	m := make(map[int]int)
	work(m, warmup)
	if len(os.Args) > 4 {
		// Before StartCPUProfile, which then keeps this rate (and warns that it is set).
		if hz, err := strconv.Atoi(os.Args[4]); err == nil {
			runtime.SetCPUProfileRate(hz)
		}
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("profiling\n")
	work(m, seconds)
	pprof.StopCPUProfile()
	out.Close()
}
