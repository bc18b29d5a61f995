// Command kube-controller-manager runs the built-in controllers (Job,
// namespace deletion, garbage collection, service-account tokens ...).
package main

import (
	"os"

	_ "time/tzdata" // the CronJob controller resolves spec.timeZone.

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // allows --logging-format=json
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
