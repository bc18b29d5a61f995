"""Progress display: what the periodic log lines of a transfer say."""

from __future__ import annotations

import logging

import pytest

from controller.datasets.progress import LogProgress

MiB = 1 << 20


def test_log_progress_reports_bytes_percent_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    progress = LogProgress("d.zip", interval=5.0, clock=lambda: now[0])
    progress.start(total=4 * MiB, initial=0)
    now[0] = 110.0
    with caplog.at_level(logging.INFO, logger="controller.progress"):
        progress.update(MiB)
    # 1 MiB in 10 s = 102.4 KiB/s; 3 MiB left at that rate = 30 s
    assert caplog.messages == ["d.zip: 1.0 MiB of 4.0 MiB (25%), 102.4 KiB/s, ETA 30s"]
