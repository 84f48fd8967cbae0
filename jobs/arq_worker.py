"""The one place we reach into ARQ's worker: ``WakeableWorker`` waits for a wake-up (a Redis pub/sub
message when a job is enqueued, or a slot freed) between polls instead of polling every
``poll_delay``. ARQ offers no hook for that, so this subclass overrides private methods
(``_poll_iteration``, ``_release_sem_dec_counter_on_complete``) and reads private state
(``_jobs_started``, ``_job_completion_wait``). ``ARQ_PRIVATES`` lists them, and
tests/jobs/test_pinned_internals.py pins them to the arq version in uv.lock: an arq upgrade that changes
any of them fails there, not in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import structlog
from arq.worker import Worker

from jobs.arq_transport import wake_channel

log = structlog.get_logger("jobs")

IDLE_POLL_S = 0.25  # the longest an idle worker goes without looking at the queue
# What of ARQ's worker beyond its documented API this module uses: name -> what it must be.
ARQ_PRIVATES = {
    "_poll_iteration": "async method (self) -> None",
    "_release_sem_dec_counter_on_complete": "method (self) -> None",
    "_jobs_started": "method (self) -> int",
    "_job_completion_wait": "attribute set in __init__",
    "handle_sig_wait_for_completion": "method (self, signum) -> None",
}


class WakeableWorker(Worker):
    """ARQ's worker, waiting for a wake-up between polls instead of polling every ``poll_delay``."""

    def __init__(self, *args: Any, idle_poll_s: float = IDLE_POLL_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_poll_s = idle_poll_s
        self._woken = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def _poll_iteration(self) -> None:
        if self._listener is None and not self.burst:
            self._listener = asyncio.create_task(self._listen(), name="arq-wake-listener")
        started = self._jobs_started()
        self._woken.clear()  # a wake-up from here on is for jobs this poll may not see
        await super()._poll_iteration()
        if self.burst or (self._jobs_started() > started and self.job_counter < self.max_jobs):
            return  # ARQ's own pace (poll_delay): burst mode as ARQ has it; or more jobs may wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), self.idle_poll_s)

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        """SIGTERM/SIGINT: ARQ stops taking jobs and gives running ones ``job_completion_wait``; said
        in our log, with how many are running (ARQ's own line is at its INFO, below our threshold)."""
        log.info(
            "worker stopping: no new jobs, running ones may finish",
            signal=signal.Signals(signum).name,
            running=len(self.tasks),
            grace_s=self._job_completion_wait,
        )
        super().handle_sig_wait_for_completion(signum)

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()
        self._woken.set()  # a free slot: look for a waiting job now

    async def _listen(self) -> None:
        """Set ``_woken`` on every message on the wake channel; reconnect after Redis errors."""
        while True:
            try:
                async with self.pool.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(wake_channel(self.queue_name))
                    self._woken.set()  # anything published while unsubscribed is looked for now
                    async for _ in pubsub.listen():
                        self._woken.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: polling every idle_poll_s goes on meanwhile
                await asyncio.sleep(self.idle_poll_s)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        await super().close()
