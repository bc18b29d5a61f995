// Command etcd is the etcd server of the ianvs-lab test environment.
//
// It exists so that etcd can be built from the Go module proxy at a pinned
// version (see ../../testenv.versions); no prebuilt binary is downloaded.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
