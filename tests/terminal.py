"""The real command on a pseudo-terminal, as an administrator sees it."""

from __future__ import annotations

import os
import pty
import subprocess
import sys


def on_a_terminal(*argv: str, columns: int = 200) -> tuple[int, str]:
    """Run the real command with a pseudo-terminal of ``columns`` as its stdout and stderr."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS=str(columns), TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_import", *argv],
        stdout=secondary,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return proc.wait(timeout=120), output.decode(errors="replace")


def run_on_a_terminal(ws, *args) -> tuple[int, str]:
    return on_a_terminal("run", "--db", str(ws.db), *map(str, args))
