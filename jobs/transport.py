"""How job ids reach workers. The database is the source of truth; a transport only carries ids, so
it may lose them (Redis flushed, a process restarted) and the sweeper hands them over again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

PROCESS_JOB = "process_job"  # the task function's name in ARQ


class Transport(Protocol):
    async def enqueue(self, job_id: str, *, defer_s: float = 0.0) -> bool:
        """Hand the job to the workers; False when the transport already has it (nothing changes)."""
        ...

    async def ensure(self, job_ids: Sequence[str]) -> list[str]:
        """Enqueue those of ``job_ids`` the transport does not know (lost); returns them."""
        ...

    async def position(self, job_id: str) -> int | None:
        """1-based place among the jobs waiting to start; None when not waiting (running, done, lost)."""
        ...

    async def remove(self, job_id: str) -> bool:
        """Take a waiting job out; True when it was waiting."""
        ...

    async def abort(self, job_id: str) -> None:
        """Ask whichever worker runs the job to stop it."""
        ...

    async def release(self, job_id: str) -> None:
        """Forget the claim of a worker that died, so the job can be picked up again now."""
        ...

    async def lease(self, name: str, ttl_s: float) -> bool:
        """A lock shared by all workers for ``ttl_s`` (one sweeper at a time); True when we got it."""
        ...

    async def close(self) -> None: ...
