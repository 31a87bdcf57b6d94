// Command etcd is etcd's server, built from the version of
// go.etcd.io/etcd/server/v3 in k8s.io/kubernetes's module graph
// (`go install go.etcd.io/etcd/server/v3@...` refuses its replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
