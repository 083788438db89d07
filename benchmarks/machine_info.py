"""The machine a benchmark ran on, printed next to its figures (one definition for every script)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(**extra: Any) -> dict[str, Any]:
    """Python, platform, CPU model, logical CPUs, memory (GB, Linux) and the load averages,
    then ``extra`` (library versions and the like)."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(OSError, IndexError, ValueError):
        mem_kb = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["mem_gb"] = round(int(mem_kb) / 1e6, 1)
    with contextlib.suppress(OSError, AttributeError):
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    info.update(extra)
    return info
