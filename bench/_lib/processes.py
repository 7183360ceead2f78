"""Processes a run starts in sessions of their own, and how they are stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes], *, grace: float, after_kill: float) -> None:
    """SIGTERM, and after ``grace`` seconds SIGKILL to the process's own session (started with
    ``start_new_session``, so only what it started)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only this process and its children
        process.wait(timeout=after_kill)
