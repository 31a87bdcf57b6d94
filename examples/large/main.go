// Command large prints a 2,000-target / 1,000-node values file:
//
//	go run ./examples/large > large.yaml && helm lustre validate large.yaml
package main

import (
	"os"

	"github.com/kube-lustre/kube-lustre/internal/topology/topotest"
)

func main() {
	if _, err := os.Stdout.Write(topotest.Large(2000, 1000)); err != nil {
		os.Exit(1)
	}
}
