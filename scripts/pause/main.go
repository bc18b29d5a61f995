// Command pause is the infrastructure container of every Pod on the ianvs-lab
// test node (docs/testenv-node.md): it holds the Pod's namespaces open, so it
// must do nothing, forever, cheaply, until the runtime stops the sandbox.
//
// Two duties beyond sleeping:
//   - exit 0 on SIGINT/SIGTERM (the runtime's stop signal), so stopping a
//     sandbox does not wait for the SIGKILL grace period;
//   - reap zombies: with shareProcessNamespace it is PID 1 of the Pod, and
//     orphans of the other containers are re-parented to it.
//
// Written for this project (not copied): it is built from source by
// `scripts/testenv build pause` into a FROM-scratch image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("ianvs-lab pause 1")
		return
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reapChildren()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %v, shutting down\n", sig)
		os.Exit(0)
	}
}

// reapChildren collects every exited child without blocking. Signals coalesce
// (one SIGCHLD may stand for several exits), hence the loop until none is left.
func reapChildren() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
