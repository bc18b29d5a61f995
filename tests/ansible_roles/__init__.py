"""Ansible roles and playbooks of this repository, run for real (against this machine or lab-host containers)."""
