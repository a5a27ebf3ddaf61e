// A Go workload with a known CPU split: hotFunction does 3 units of work for every unit of coldFunction.
// Both are frameless leaves (no locals, no calls), as such loops are in real Go code.
// The unit varies from round to round (the same in both, from a fixed pseudo-random sequence): with
// rounds of one fixed length, a sampler's fixed period can lock onto the round's phase (a CI run saw
// 0.67 instead of 0.75 for four seconds).
// usage: go-split [SECONDS]
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64


//go:noinline
func hotFunction(x uint64, unit int) uint64 {
	x |= 1
	for i := 0; i < 3*unit; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

//go:noinline
func coldFunction(x uint64, unit int) uint64 {
	x |= 1
	for i := 0; i < 1*unit; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func main() {
	seconds := 30.0
	if len(os.Args) > 1 {
		if s, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			seconds = s
		}
	}
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	rng := uint64(0x9e3779b97f4a7c15)
	for round := uint64(0); time.Now().Before(end); round++ {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		unit := 100000 + int(rng%200000)
		sink += hotFunction(round, unit)
		sink += coldFunction(round, unit)
	}
}
