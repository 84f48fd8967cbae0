"""The in-process runner: the embedded default when there is no Redis. The same task function as the
ARQ workers (``Executor.run``) runs in tasks of this process; retries wait on the event loop's timer.
Nothing here survives the process, which is fine: the database does, and ``start`` re-enqueues every
job that is still queued there."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from contextlib import suppress

import structlog

from jobs.execute import Executor
from jobs.metrics import QUEUE_DEPTH

log = structlog.get_logger("jobs.local")


class LocalRunner:
    """``grace_s``: on close, how long the jobs already asked for get to finish and be delivered (in
    this mode no other worker would run them); 0: interrupt at once, they stay queued for the next
    start."""

    def __init__(self, *, concurrency: int = 4, grace_s: float = 0.0) -> None:
        self.executor: Executor | None = None
        self.concurrency = concurrency
        self.grace_s = grace_s
        self._waiting: deque[str] = deque()
        self._deferred: dict[str, asyncio.TimerHandle] = {}
        self._running: dict[str, asyncio.Task[object]] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._consumers: list[asyncio.Task[None]] = []
        self._stopping = False

    def start(self, executor: Executor) -> None:
        """Run jobs with ``executor`` (built after the runner: its sweeper needs the runner)."""
        self.executor = executor
        self._stopping = False
        if not self._consumers:
            self._consumers = [
                asyncio.create_task(self._consume(), name=f"local-runner-{n}")
                for n in range(self.concurrency)
            ]

    async def stop(self) -> None:
        """Stop taking jobs; running ones are interrupted and go back to queued in the database."""
        self._stopping = True
        for handle in self._deferred.values():
            handle.cancel()
        self._deferred.clear()
        # Jobs first, each cancelled once, so each can finish giving itself back; then the consumers.
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._consumers = []

    async def wait_idle(self) -> None:
        """Until nothing waits, runs or is scheduled to retry: the orderly shutdown (``close``) waits
        for it, and so do tests."""
        await self._idle.wait()

    # --- Transport ---------------------------------------------------------------------------------

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0) -> bool:
        if self._knows(job_id):
            return False
        if defer_s > 0:
            self._defer(job_id, defer_s)
        else:
            self._push(job_id)
        return True

    async def ensure(self, job_ids: Sequence[str]) -> list[str]:
        return [job_id for job_id in job_ids if await self.enqueue(job_id)]

    async def position(self, job_id: str) -> int | None:
        try:
            return self._waiting.index(job_id) + 1
        except ValueError:
            return None

    async def remove(self, job_id: str) -> bool:
        handle = self._deferred.pop(job_id, None)
        if handle is not None:
            handle.cancel()
            self._update_idle()
            return True
        try:
            self._waiting.remove(job_id)
        except ValueError:
            return False
        self._update_idle()
        return True

    async def abort(self, job_id: str) -> None:
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    async def release(self, job_id: str) -> None:
        return None  # a running job here is a task of this process: it cannot be held by a dead one

    async def lease(self, name: str, ttl_s: float) -> bool:
        return True  # one process, one sweeper

    async def close(self) -> None:
        """Orderly shutdown (the bot has stopped taking updates): every job already asked for runs and
        is delivered, up to ``grace_s``; then what is left is interrupted and stays queued in the
        database, for the next start's sweep."""
        if self.grace_s > 0 and self._consumers and not self._idle.is_set():
            log.info("finishing jobs before stopping", waiting=len(self._waiting), running=len(self._running))
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wait_idle(), self.grace_s)
        await self.stop()

    # --- internals ---------------------------------------------------------------------------------

    def _knows(self, job_id: str) -> bool:
        return job_id in self._running or job_id in self._deferred or job_id in self._waiting

    def _push(self, job_id: str) -> None:
        self._waiting.append(job_id)
        QUEUE_DEPTH.set(len(self._waiting))
        self._idle.clear()
        self._wakeup.set()

    def _defer(self, job_id: str, delay_s: float) -> None:
        def due() -> None:
            if self._deferred.pop(job_id, None) is not None:
                self._push(job_id)

        self._deferred[job_id] = asyncio.get_running_loop().call_later(delay_s, due)
        self._idle.clear()

    def _update_idle(self) -> None:
        QUEUE_DEPTH.set(len(self._waiting))
        if not self._waiting and not self._running and not self._deferred:
            self._idle.set()

    async def _consume(self) -> None:
        while True:
            while not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
            job_id = self._waiting.popleft()
            QUEUE_DEPTH.set(len(self._waiting))
            assert self.executor is not None
            task = asyncio.create_task(self.executor.run(job_id), name=f"job-{job_id}")
            self._running[job_id] = task
            try:
                outcome = await task
            except asyncio.CancelledError:
                if self._stopping or not task.cancelled():
                    raise  # the runner itself is stopping
                # aborted: the executor gave the job back, or it was cancelled
            except Exception:
                log.exception("job attempt crashed", job_id=job_id)
            else:
                if outcome.status == "retry":
                    self._defer(job_id, outcome.retry_in or 0.0)
            finally:
                self._running.pop(job_id, None)
                self._update_idle()
