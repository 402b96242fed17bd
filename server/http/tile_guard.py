"""Bounded work for map tiles: a render pool of its own and a request rate per client.

Tiles need no login (map libraries fetch them), so anyone can ask for tiles
that must be rendered. Renders run on :class:`RenderPool`'s few threads, never
on the pool that serves the API's other requests, with a bounded queue and an
answer within a time budget: a flood of uncached tiles gets 503s while a
farmer's status read is served as usual. :class:`ClientRate` bounds the tile
requests of one client address (a token bucket, in this process).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["ClientRate", "RenderBusyError", "RenderPool", "default_render_workers"]

T = TypeVar("T")


class RenderBusyError(Exception):
    """The render pool is full, or a render ran past its time budget: retry later.

    Attributes:
        retry_after_s: a suggested wait, in seconds (>= 1).
    """

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def default_render_workers() -> int:
    """Half the CPU cores this process may use, at least one."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class RenderPool:
    """At most ``workers`` renders at once, ``queue`` more waiting, each answered in time.

    Args:
        workers: render threads (>= 1).
        queue: renders that may wait for a thread; more are refused at once.
        timeout_s: the longest a request waits for its render (queue included).
            A render that runs past it still finishes and fills the cache, so
            the client's retry is served from there.
    """

    def __init__(self, workers: int, queue: int, timeout_s: float) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="tile-render")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self.timeout_s = timeout_s

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a render thread and return its result (its exception raised here).

        Raises:
            RenderBusyError: no slot is free, or the render took longer than
                ``timeout_s``.
        """
        if not self._slots.acquire(blocking=False):
            raise RenderBusyError("the map tile renderer is busy: retry shortly")
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.timeout_s
            )
        except TimeoutError as exc:
            raise RenderBusyError(
                f"the tile took longer than {self.timeout_s:g} s to draw: retry shortly",
                retry_after_s=max(1, math.ceil(self.timeout_s / 2)),
            ) from exc

    def close(self) -> None:
        """Stop taking renders; queued ones are dropped, running ones finish."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class ClientRate:
    """A token bucket per client: ``rate_per_s`` requests a second, bursts of ``burst``.

    Kept in this process, for the ``max_clients`` most recently seen clients
    (an unseen client starts with a full bucket). With several API workers,
    each applies it to the requests it serves.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Take one request for ``client``: 0 if allowed, else seconds until one is."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate_per_s
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait
