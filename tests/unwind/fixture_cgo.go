// A cgo program: C code in a Go binary, described by gcc's .eh_frame rather than .gopclntab.
package main

/*
static int c_work(int n) {
	volatile int s = 0;
	for (int i = 0; i < n; i++) s += i * i;
	return s;
}
int c_entry(int n) { return c_work(n) + 1; }
*/
import "C"

import "fmt"

func main() { fmt.Println("cgo fixture", C.c_entry(10)) }
