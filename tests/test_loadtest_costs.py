"""scripts/loadtest.py's replica figures: CPU per page view (with and without the sign-ins' password checks) and
peak memory, read from /proc. A spinning child process stands in for a replica."""
from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to read CPU time")


def load_script():
    spec = importlib.util.spec_from_file_location("loadtest_script", ROOT / "scripts" / "loadtest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_per_view_counts_the_replicas_cpu_during_the_run_and_takes_out_the_sign_ins():
    loadtest = load_script()
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 0.6\nwhile time.time() < end: pass\n"
                                "time.sleep(30)"])
    try:
        before = {spinner.pid: loadtest.cpu_seconds(spinner.pid)}
        time.sleep(1.0)
        peaks: dict[int, float] = {}
        stop = asyncio.Event()

        async def watch_briefly():
            task = asyncio.create_task(loadtest.watch_memory([spinner.pid], peaks, stop))
            await asyncio.sleep(0.1)
            stop.set()
            await task

        asyncio.run(watch_briefly())
        report = {"page_views": 10, "pages": {"sign_in": {"count": 2}}}
        costs = loadtest.replica_costs([spinner.pid], before, peaks, report, sign_in_cpu=0.1)
    finally:
        spinner.kill()
        spinner.wait()
    used = costs["cpu_seconds"][str(spinner.pid)]
    assert 0.3 <= used <= 1.0, used  # the child spun for about 0.6 s after the "before" reading began
    assert costs["cpu_seconds_per_page_view"] == pytest.approx(used / 10, abs=0.011)
    assert costs["cpu_seconds_per_page_view_without_sign_ins"] == pytest.approx((used - 0.2) / 10, abs=0.011)
    assert costs["sign_ins"] == 2
    assert 1 <= costs["peak_resident_mb"][str(spinner.pid)] < 500


def test_resident_memory_and_cpu_of_this_process_are_read():
    loadtest = load_script()
    assert loadtest.resident_mb(os.getpid()) > 1
    assert loadtest.cpu_seconds(os.getpid()) > 0
