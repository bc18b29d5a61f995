// Command kind is sigs.k8s.io/kind at the version pinned in go.mod, built
// locally because release binaries cannot be downloaded on the lab machines.
// The Ansible role tests use it; the control-plane tests do not.
package main

import "sigs.k8s.io/kind/cmd/kind/app"

func main() {
	app.Main()
}
