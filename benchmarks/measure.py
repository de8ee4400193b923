"""What every benchmark here needs: a wall clock that also reports how much of the CPU other
processes took meanwhile (a contended run is not a measurement), and the processor's name."""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path


class Clock:
    """Wall seconds of a `with` block, and the cores other processes (not this one or its children) used meanwhile."""

    def __enter__(self) -> Clock:
        self.start, self.start_elsewhere = time.perf_counter(), busy_elsewhere()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
        # /proc/stat counts in 10 ms ticks: a short window can come out slightly negative.
        self.other_load = max(0.0, (busy_elsewhere() - self.start_elsewhere) / self.seconds)


def busy_elsewhere() -> float:
    """CPU seconds used by the whole machine minus this process and its finished children (Linux; NaN elsewhere)."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.read_text().split()[1:9])
    # steal: the hypervisor's other guests
    machine = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return machine - time.process_time() - children.ru_utime - children.ru_stime


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"
