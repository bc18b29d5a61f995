// Command coredns is the unmodified CoreDNS server with its standard plugin
// set, linked from github.com/coredns/coredns at the version pinned in go.mod
// (the same two lines as upstream's coredns.go). It runs as the cluster DNS
// image in the lab's kind nodes (scripts/kind-node, docs/lab.md), built locally
// because release images cannot be pulled on the lab machines. That image is
// FROM scratch, so the binary must be static (go_build sets CGO_ENABLED=0).
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // the standard plugin set (plugin.cfg)
	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
