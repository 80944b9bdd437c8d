"""Names of temporary folders that say who writes them (pid and host), so a later run can tell a folder
left by a killed writer from one still being written."""
from __future__ import annotations

import os
import re
import socket

SEP = "~"


def host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:60] or "localhost"


def prefix(label: str) -> str:
    """`<label>~<pid>~<host>~`: mkdtemp appends a random suffix."""
    return f"{label}{SEP}{os.getpid()}{SEP}{host()}{SEP}"


def writer(name: str) -> tuple[int, str] | None:
    """(pid, host) of a folder named with prefix(), or None for any other name."""
    parts = name.split(SEP)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]
