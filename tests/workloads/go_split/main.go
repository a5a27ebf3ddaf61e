// A Go workload with a known CPU split: hotFunction does 3 units of work for every unit of coldFunction.
// Both are frameless leaves (no locals, no calls), as such loops are in real Go code.
// usage: go-split [SECONDS]
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

const unit = 200000

//go:noinline
func hotFunction(x uint64) uint64 {
	x |= 1
	for i := 0; i < 3*unit; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

//go:noinline
func coldFunction(x uint64) uint64 {
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
	for round := uint64(0); time.Now().Before(end); round++ {
		sink += hotFunction(round)
		sink += coldFunction(round)
	}
}
