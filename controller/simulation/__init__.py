"""The simulation runtime: test cases run as SimulationJob custom resources in a Kubernetes cluster.

- ``manifests``: render the CRD, SimulationJobs and the job controller's RBAC/Deployment from ``templates/simulation``.
- ``kube``: API clients, applying manifests, waiting for a CRD, the list-then-watch loop every watcher here uses.
- ``result_store``: a CaseResult in a ConfigMap and back.
- ``job_admin``: the Simulation Job Administrator (submit jobs, list-watch result ConfigMaps, harvest).
- ``job_controller``: the in-cluster Simulation Job Controller (watch SimulationJobs, ``run_case``, write results).

Both sides execute the SAME ``run_case(spec, workspace)`` as the local runtime, so a case gives the same
result locally and in the cluster for the same seed.
"""
