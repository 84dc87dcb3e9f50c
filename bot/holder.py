"""Who holds a lease (the scheduler, an outbox row): a name for this process that another process on the
same machine can check for life, so a restarted service takes over at once instead of waiting out a TTL."""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache
from pathlib import Path


@cache
def _machine() -> str:
    """Where a process id means one process: this boot of this kernel (two cloned machines may share a host
    name, never a boot id) and this PID namespace (containers on one host have their own)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return f"{socket.gethostname()}/unknown/{uuid.uuid4().hex[:8]}"  # nothing to compare: never "here"
    return f"{socket.gethostname()}/{boot}/{namespace}"


_MINE: set[str] = set()  # the holders made in this process (a process may hold several leases)


def make_holder() -> str:
    """machine:pid:nonce, unique to this process's lifetime."""
    holder = f"{_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    _MINE.add(holder)
    return holder


def dead_here(holder: str, me: str) -> bool:
    """True when `holder` ran on this machine and its process no longer exists.

    A holder on another machine is never declared dead here (its lease must run out), and neither is one
    whose process may be alive or cannot be checked."""
    if holder == me or holder in _MINE:
        return False
    parts = holder.split(":")
    if len(parts) < 3:
        return False
    machine, pid = ":".join(parts[:-2]), parts[-2]
    if machine != _machine() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        # Our pid in our namespace on this boot, but not one of our holders: a predecessor that had this pid.
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
