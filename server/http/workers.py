"""``agri serve --workers N``: N uvicorn processes, each listening on a socket of its own.

uvicorn's own ``--workers`` shares one listening socket among its processes,
and asyncio accepts every pending connection on a wake-up: a burst of
keep-alive connections (a load balancer's pool, a benchmark's 16) can land on
one worker and stay there while the other idles (measured: all 16 of wrk's
connections on one worker in one run of four, 1,413 instead of about 4,400
requests/s on ``/health``). Here each worker binds its own socket to the same
address with ``SO_REUSEPORT``, and the kernel spreads new connections over
them by their address hash. The parent process only supervises: it restarts a
worker that dies (after a pause that grows while they keep dying), gives up
only when the workers never got past their startup, and passes SIGINT /
SIGTERM on for a graceful shutdown; a worker whose parent is gone stops.

Linux only: other systems accept ``SO_REUSEPORT`` but do not spread the
connections (one socket gets them all), so there uvicorn's shared socket is used.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
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
"""Early exits, before any worker ever got past its startup, after which the supervisor gives up."""
RESTART_PAUSE_S = (1.0, 30.0)
"""The pause before restarting a worker that exited early: first, and at most (doubling
for each early exit of the same worker; one that had served is restarted at once)."""
GRACE_S = 25
"""Seconds a stopping worker has to finish its requests (then 5 more before it is killed)."""


class WorkersError(RuntimeError):
    """The workers cannot serve: the address is taken, or they keep dying at startup."""


def reuse_port_supported() -> bool:
    """Whether the kernel spreads connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


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


def _orphan_watch(parent: int) -> None:  # pragma: no cover
    """Stop this worker (SIGTERM, graceful) once its supervisor is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    host: str, port: int, parent: int, options: dict[str, Any]
) -> None:  # pragma: no cover
    """One worker process: its own socket on the shared address, then uvicorn."""
    import uvicorn

    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    sock = _listener(host, port, reuse_port=True)
    config = uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        timeout_graceful_shutdown=GRACE_S,
        **options,
    )
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
            workers exited within :data:`EARLY_EXIT_S` of their start
            :data:`MAX_EARLY_EXITS` times before any of them got past its
            startup (their log says why). Once they have served, a worker
            that dies is restarted, after a pause growing from 1 to 30 s
            while restarts keep failing.
    """
    # A plain bind (no SO_REUSEPORT) fails where anything holds the address:
    # a server already running there is refused, not joined.
    try:
        _listener(host, port, reuse_port=False).close()
    except OSError as exc:
        raise WorkersError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    spawn = multiprocessing.get_context("spawn")
    signalled: list[int] = []  # appended by the handler: no lock taken in it

    def start(pause: float = RESTART_PAUSE_S[0]) -> tuple[BaseProcess, float, float]:
        """A worker, when it started, and the pause before restarting it if it dies early."""
        process = spawn.Process(
            target=_worker, args=(host, port, os.getpid(), options), name="agri-worker"
        )
        process.start()
        return process, time.monotonic(), pause

    previous = {
        sig: signal.signal(sig, lambda sig, _: signalled.append(sig))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    running: list[tuple[BaseProcess, float, float]] = []
    early, served = 0, False
    try:
        running = [start() for _ in range(workers)]
        while not signalled:
            time.sleep(0.5)
            for i, (process, started, pause) in enumerate(running):
                up_s = time.monotonic() - started
                if process.is_alive():
                    served = served or up_s >= EARLY_EXIT_S
                    continue
                if up_s >= EARLY_EXIT_S:  # it had served: restart at once
                    pause = RESTART_PAUSE_S[0]
                else:  # died at startup: give up, or wait longer each time
                    early += 1
                    if not served and early >= MAX_EARLY_EXITS:
                        raise WorkersError(
                            f"the workers exited at startup {early} times "
                            f"(last exit code {process.exitcode}): see their log above"
                        )
                    until = time.monotonic() + pause
                    while not signalled and time.monotonic() < until:
                        time.sleep(0.2)
                    pause = min(pause * 2, RESTART_PAUSE_S[1])
                if signalled:
                    break
                log.warning(
                    "worker %s exited (code %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                running[i] = start(pause)
    finally:
        for process, _, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests
        deadline = time.monotonic() + GRACE_S + 5
        for process, _, _ in running:
            process.join(max(deadline - time.monotonic(), 0))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
