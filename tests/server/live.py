"""``agri serve`` in a process of its own, as production runs it, for the tests
that need a real server (several workers, GDAL over HTTP, a flood of tiles)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def agri_serve(
    env: dict[str, str], *args: str, start_s: float = 90
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``agri serve --port P *args`` with ``env`` over this process's
    environment; yield its base URL and process once ``/api/v1/health`` answers.

    Fails the test with the server's stderr if it exits or does not answer
    within ``start_s`` seconds; terminates it (and waits) afterwards.
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from server.cli.main import main; main()",
            "-q",
            "serve",
            "--port",
            str(port),
            *args,
        ],
        env=os.environ | env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_s
    try:
        while True:
            try:
                if httpx2.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read() if proc.stderr else b""
                pytest.fail(f"agri serve {' '.join(args)} did not start: {err!r}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
