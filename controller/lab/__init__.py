"""The Simulation System Administrator: check lab hosts and build the lab by running this repository's Ansible
playbooks through ansible-runner, then reading their results (per-host stats, failed tasks, host_check reports).

Ansible owns host state; this package never does what a role does — it runs roles and reports.

- ``runner``: a playbook through ansible-runner in a fresh private data dir; its per-host stats and failures.
- ``commands``: ``controller lab check|up|deploy|down``.
"""
