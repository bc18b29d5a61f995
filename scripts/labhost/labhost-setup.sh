#!/bin/sh
# One-time setup of the labhost image (run by the Dockerfile). Why each step:
set -eu

# Units that need real hardware, consoles or a writable kernel; in a container they only fail and make
# `systemctl is-system-running` report "degraded".
systemctl mask \
    getty.target console-getty.service systemd-remount-fs.service dev-hugepages.mount \
    sys-fs-fuse-connections.mount sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-firstboot.service systemd-modules-load.service systemd-sysctl.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-journald-audit.socket systemd-binfmt.service proc-sys-fs-binfmt_misc.automount
systemctl set-default multi-user.target
systemctl enable ssh.service

# An unprivileged operator account, like on a real lab host: Ansible connects as `lab` and uses `become`.
useradd --create-home --shell /bin/bash --groups sudo lab
echo 'lab ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/lab
chmod 0440 /etc/sudoers.d/lab
install -d -m 0700 -o lab -g lab /home/lab/.ssh

# Key-only SSH; tests copy their public key into /home/lab/.ssh/authorized_keys.
printf '%s\n' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UseDNS no' \
    > /etc/ssh/sshd_config.d/ianvs-lab.conf

# Every container must get its own machine-id (systemd creates it at boot when the file is empty).
: > /etc/machine-id
