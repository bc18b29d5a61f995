# Test environment targets (docs/testenv.md). Included from the Makefile: `include mk/testenv.mk`.
#   make testenv-build    build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (if needed), kind
#   make testenv-up       start the control plane (builds on first use); KUBECONFIG=.cache/testenv/kubeconfig
#   make testenv-down     stop what testenv-up started and delete its data
#   make testenv-status   show components and readiness
#   make testenv-images   Docker engine + ianvs-lab/base and ianvs-lab/labhost images
#   make testenv-node-up  opt-in: a kubelet + its own containerd that run Pods (needs testenv-up and the images;
#                         docs/testenv-node.md)
#   make testenv-node-down  stop the node only (testenv-down stops it too)
#   make ci-cold          CI as a new machine runs it: .ci/run in a throw-away clone of HEAD with empty caches;
#                         CI_COLD_ARGS=--remove-images also deletes (so rebuilds) the ianvs-lab/* Docker images
# `make test` needs none of these: the pytest fixtures bring everything up (and the control plane down) themselves.

.PHONY: testenv-build testenv-up testenv-down testenv-status testenv-images testenv-node-up testenv-node-down ci-cold

testenv-build:
	scripts/testenv build

testenv-up:
	scripts/testenv up

testenv-down:
	scripts/testenv down

testenv-status:
	scripts/testenv status

testenv-images:
	scripts/docker-engine
	scripts/base-image

testenv-node-up:
	scripts/testenv node-up

testenv-node-down:
	scripts/testenv node-down

ci-cold:
	scripts/ci-cold $(CI_COLD_ARGS)
