"""Which machine and process a run belongs to, and whether that process still exists.

A run records its machine and process id when it opens. Another csdesk process on the same machine can
then tell at once that a run's process has ended (killed, or the machine's power cut mid-run and it
rebooted), instead of waiting out the heartbeat lease. Runs on other machines are judged by their
heartbeat alone: a process id means nothing elsewhere.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# Changes at every boot: a run from before a reboot is not this machine's any more, whatever its pid.
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
MACHINE_LENGTH = 255


def this_machine() -> str:
    """The host name and, where the system has one, the boot's id."""
    try:
        boot = _BOOT_ID.read_text().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"[:MACHINE_LENGTH]


def process_ended(pid: int) -> bool:
    """True when no process `pid` exists on this machine. False when one does, even if it is another
    program that took the number since (the heartbeat lease still catches that run), and wherever the
    question cannot be asked safely (Windows: signal 0 there would interrupt the process)."""
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, run by another user
        return False
    return False
