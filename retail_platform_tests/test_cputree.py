"""The soak's meter of the `dagster dev` tree (devtools/cputree.py): what it reports as a
process's peak RSS is the highest it reached, not what it held when sampled."""

from __future__ import annotations

import subprocess
import sys

from devtools.cputree import Meter

# Touches 300 MiB, frees it (a block that large goes back to the kernel at once), then
# lives on small: sampled later, its current RSS is far below the peak.
GROW_AND_SHRINK = """
import time
block = b"x" * (300 * 2**20)
del block
time.sleep(1.0)
"""


def test_meter_reports_the_peak_a_process_reached_after_it_shrank():
    child = subprocess.Popen([sys.executable, "-c", GROW_AND_SHRINK])
    meter = Meter(child.pid, interval=0.1)
    child.wait(timeout=30)
    meter.stop()
    assert meter.peaks_mib()["other"] >= 300
