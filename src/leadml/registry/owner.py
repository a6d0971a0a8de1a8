"""Which process owns a training run: its pid, host and start time as run tags, and whether that
process still lives (a pid reused by a later process does not count)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PID_TAG = "leadml.pid"
HOST_TAG = "leadml.host"
STARTED_TAG = "leadml.process_start"  # boot id and start time in clock ticks: exact, unlike a pid


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    started: str  # "" where /proc is not there to read it

    @classmethod
    def this_process(cls) -> Owner:
        return cls(os.getpid(), socket.gethostname(), process_start(os.getpid()) or "")

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Owner | None:
        """The owner recorded on a run, or None for a run leadml did not start."""
        pid, host = tags.get(PID_TAG, ""), tags.get(HOST_TAG, "")
        if not pid.isdigit() or not host:
            return None
        return cls(int(pid), host, tags.get(STARTED_TAG, ""))

    def tags(self) -> dict[str, str]:
        return {PID_TAG: str(self.pid), HOST_TAG: self.host, STARTED_TAG: self.started}

    def gone(self) -> str | None:
        """Why this owner no longer runs, or None when it may (or, on another host, might)."""
        if self.host != socket.gethostname():
            return None  # another machine's processes cannot be seen from here
        if not _alive(self.pid):
            return f"its process (pid {self.pid} on {self.host}) is gone"
        started = process_start(self.pid)
        if self.started and started is not None and started != self.started:
            return f"pid {self.pid} on {self.host} now belongs to another process"
        return None


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    stat = _stat(pid)
    return stat is None or stat[0] != "Z"


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc/PID/stat; None without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (command name) "
    return fields[0], fields[19]


def process_start(pid: int) -> str | None:
    """When the process started, exactly: the boot id and its start in clock ticks since boot
    (None without /proc, e.g. on macOS)."""
    stat = _stat(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return None if stat is None else f"{boot}:{stat[1]}"
