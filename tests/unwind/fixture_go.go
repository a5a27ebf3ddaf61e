// A Go program for the .gopclntab tests (unwind rows, symbolization): frameless leaves, frames
// small and large, inlined chains, closures, methods, defers and goroutines.
package main

import (
	"fmt"
	"os"
	"strings"
)

var sink uint64

// A frameless leaf: no locals, no calls.
//
//go:noinline
func leaf(x uint64) uint64 {
	for i := 0; i < 10; i++ {
		x = x*31 + 7
	}
	return x
}

// Inlined into their callers, three deep.
func inner(x uint64) uint64  { return x ^ (x >> 3) }
func middle(x uint64) uint64 { return inner(x+1) * 3 }
func outer(x uint64) uint64  { return middle(x*5) + 1 }

//go:noinline
func withInlining(x uint64) uint64 {
	s := uint64(0)
	for i := uint64(0); i < x; i++ {
		s += outer(i)
	}
	return s + leaf(s)
}

// A frame larger than 128 bytes: the rbp save has a 32-bit displacement.
//
//go:noinline
func bigFrame(n int) uint64 {
	var a [64]uint64
	for i := range a {
		a[i] = uint64(i * n)
	}
	sink += leaf(a[n%64])
	return a[(n+1)%64]
}

type counter struct{ n uint64 }

//go:noinline
func (c *counter) add(x uint64) { c.n += leaf(x) }

//go:noinline
func withDefer(x uint64) (r uint64) {
	defer func() { r += leaf(x) }()
	return x
}

//go:noinline
func recurse(n int) uint64 {
	if n == 0 {
		return leaf(uint64(n))
	}
	return recurse(n-1) + 1
}

func main() {
	c := &counter{}
	add := c.add
	for i := uint64(0); i < 100; i++ {
		add(i)
	}
	done := make(chan uint64)
	go func() { done <- withInlining(1000) + bigFrame(3) }()
	v := <-done
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		b.WriteByte(byte(i))
	}
	f := func(x uint64) uint64 { return withDefer(x) + recurse(10) }
	fmt.Fprintln(os.Stdout, "go fixture", v+c.n+f(uint64(b.Len())) != 0)
}
