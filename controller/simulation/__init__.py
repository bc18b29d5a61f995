"""The simulation runtime: test cases run as SimulationJob custom resources in a Kubernetes cluster.

- ``simulation_job``: the SimulationJob resource as a typed view (its fields, status, identity checks).
- ``manifests``: render the CRD, SimulationJobs, the Namespace and the job controller's RBAC/Deployment from
  ``templates/simulation``; the names they share.
- ``kube``: API clients, applying manifests, waiting for a CRD, the list-then-watch loop every watcher here uses.
- ``result_store``: a CaseResult in a ConfigMap and back.
- ``job_admin``: the Simulation Job Administrator (submit jobs, rerun failed ones, list-watch result ConfigMaps).
- ``job_controller``: the Simulation Job Controller (watch SimulationJobs, run a case or start its case Pod,
  write results).
- ``case_pods``: the case Job and case Pod of a SimulationJob with an image, and how their state becomes an outcome.
- ``case_data``: the files a case reads, served by the controller to nodes that lack them (a multi-host lab), and
  fetched into a node's dataset cache by the case Pod.
- ``case_runner``: what a case Pod runs (``controller simulation run-case``).
- ``controller_image`` / ``algorithm_images``: the container images cases run in (offline builds).
- ``commands``: the ``controller simulation ...`` command line.

Every side executes the SAME ``run_case(spec, workspace)`` as the local runtime, so a case gives the same
result locally and in the cluster for the same seed.
"""
