// Command kube-proxy is the unmodified Kubernetes Service proxy, linked from
// k8s.io/kubernetes at the version pinned in go.mod. It runs as an image in the
// lab's kind nodes (scripts/node-image, docs/lab.md).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // allows --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric on /metrics
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}
