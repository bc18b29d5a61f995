"""Tests and fixtures that run against REAL infrastructure: a local Kubernetes control plane (scripts/testenv)
and a Docker engine with lab-host containers (scripts/docker-engine, scripts/base-image). See docs/testenv.md."""
