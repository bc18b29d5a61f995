// Command kube-apiserver is the unmodified Kubernetes API server, linked from
// k8s.io/kubernetes at the version pinned in go.mod.
package main

import (
	"os"

	_ "time/tzdata" // CronJob time zones need the tz database even in a bare environment.

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // allows --logging-format=json
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
