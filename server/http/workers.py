"""``agri serve --workers N``: N uvicorn processes, each listening on a socket of its own.

uvicorn's own ``--workers`` shares one listening socket among its processes,
and asyncio accepts every pending connection on a wake-up: a burst of
keep-alive connections (a load balancer's pool, a benchmark's 16) can land on
one worker and stay there while the other idles (measured: all 16 of wrk's
connections on one worker in one run of four, 1,413 instead of about 4,400
requests/s on ``/health``). Here each worker binds its own socket to the same
address with ``SO_REUSEPORT``, and the kernel spreads new connections over
them by their address hash. The parent process only supervises: it restarts a
worker that dies, stops when one keeps dying at startup, and passes SIGINT /
SIGTERM on for a graceful shutdown.

Linux (and other systems with ``SO_REUSEPORT``); elsewhere uvicorn's shared
socket is used.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["WorkersError", "reuse_port_supported", "serve_workers"]

log = logging.getLogger("uvicorn.error")

APP = "server.http.asgi:app_from_environment"
"""The uvicorn factory each worker runs."""
EARLY_EXIT_S = 10.0
"""A worker that exits sooner than this after its start counts as failing to start."""
MAX_EARLY_EXITS = 3
"""Consecutive early exits of the workers after which the supervisor gives up."""


class WorkersError(RuntimeError):
    """The workers cannot serve: the address is taken, or they keep dying at startup."""


def reuse_port_supported() -> bool:
    """Whether this system has ``SO_REUSEPORT`` (Linux, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def _listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP (without it, a response in two writes waits 40 ms for a delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:  # pragma: no cover
    """One worker process: its own socket on the shared address, then uvicorn."""
    import uvicorn

    sock = _listener(host, port, reuse_port=True)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the API from ``workers`` processes until SIGINT or SIGTERM.

    Args:
        host: the address every worker listens on.
        port: its port.
        workers: how many processes (>= 2).
        options: further ``uvicorn.Config`` options of each worker
            (``proxy_headers``, ``forwarded_allow_ips``, ``access_log``).

    Raises:
        WorkersError: the address is in use by another program, or the
            workers died within :data:`EARLY_EXIT_S` of their start
            :data:`MAX_EARLY_EXITS` times in a row (their log says why).
    """
    # A plain bind (no SO_REUSEPORT) fails where anything holds the address,
    # so a second server on the same port is refused, not silently joined.
    try:
        _listener(host, port, reuse_port=False).close()
    except OSError as exc:
        raise WorkersError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> tuple[BaseProcess, float]:
        process = spawn.Process(
            target=_worker, args=(host, port, options), name="agri-worker"
        )
        process.start()
        return process, time.monotonic()

    previous = {
        sig: signal.signal(sig, lambda *_: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    running = [start() for _ in range(workers)]
    early = 0
    try:
        while not stop.wait(0.5):
            for i, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                early = early + 1 if time.monotonic() - started < EARLY_EXIT_S else 0
                if early >= MAX_EARLY_EXITS:
                    raise WorkersError(
                        f"the workers exited at startup {early} times in a row "
                        f"(last exit code {process.exitcode}): see their log above"
                    )
                log.warning(
                    "worker %s exited (code %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                running[i] = start()
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests
        for process, _ in running:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
