// A Go program, for IsGoBinary.
package main

import "fmt"

func main() { fmt.Println("go fixture") }
