// Command kubeadm is the unmodified Kubernetes cluster bootstrapper, linked from
// k8s.io/kubernetes at the version pinned in go.mod. kind runs it inside the lab's
// node containers (scripts/node-image, docs/lab.md); its version ldflags must match
// the control-plane images', which kubeadm checks.
package main

import (
	"k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() {
	kubeadmerrors.HandleError(app.Run())
}
