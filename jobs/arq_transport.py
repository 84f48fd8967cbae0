"""The ARQ transport: job ids in ARQ's queue on Redis, the job id as ARQ's ``_job_id``.

ARQ keeps a job in its sorted set (scored by when it may run) until a worker finishes it, and marks a
running one with an ``in-progress`` key; we read both for queue positions. Results are not kept
(``keep_result=0`` in the worker), so a finished id can always be enqueued again.
"""

from __future__ import annotations

from collections.abc import Sequence

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.utils import timestamp_ms

from jobs.transport import PROCESS_JOB

# Queue positions look at this many jobs ahead for ones already running: running jobs are the oldest,
# so the first few hundred hold them all unless a worker fleet runs more at once than this.
RUNNING_SCAN = 512


def wake_channel(queue_name: str) -> str:
    """The pub/sub channel whose messages wake the queue's idle workers (jobs/worker.WakeableWorker):
    published to after each enqueue and abort, so workers need not poll every few milliseconds."""
    return f"{queue_name}:wake"


async def connect(url: str, *, retries: int = 5) -> ArqRedis:
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = retries
    return await create_pool(settings)


class ArqTransport:
    def __init__(self, redis: ArqRedis, queue_name: str, *, key_prefix: str = "swapbot:") -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.key_prefix = key_prefix

    @classmethod
    async def connect(cls, url: str, queue_name: str) -> ArqTransport:
        return cls(await connect(url), queue_name)

    async def enqueue(self, job_id: str, *, defer_s: float = 0.0) -> bool:
        job = await self.redis.enqueue_job(
            PROCESS_JOB, job_id, _job_id=job_id, _queue_name=self.queue_name, _defer_by=defer_s or None
        )
        if job is not None and not defer_s:
            await self.redis.publish(wake_channel(self.queue_name), b"")
        return job is not None

    async def ensure(self, job_ids: Sequence[str]) -> list[str]:
        if not job_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.zscore(self.queue_name, job_id)
            scores = await pipe.execute()
        lost = [job_id for job_id, score in zip(job_ids, scores, strict=True) if score is None]
        enqueued = []
        for job_id in lost:
            # A job key without a queue entry is a leftover that would make enqueue_job refuse the id.
            await self.redis.delete(job_key_prefix + job_id)
            if await self.enqueue(job_id):
                enqueued.append(job_id)
        return enqueued

    async def position(self, job_id: str) -> int | None:
        rank: int | None  # ZRANK of a job not in the queue is None
        running: int
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrank(self.queue_name, job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            rank, running = await pipe.execute()
        if rank is None or running:
            return None
        if rank == 0:
            return 1
        ahead = await self.redis.zrange(self.queue_name, 0, min(rank, RUNNING_SCAN) - 1)
        started: int = await self.redis.exists(*(in_progress_key_prefix + _text(other) for other in ahead))
        return rank - started + 1

    async def depth(self) -> int:
        """Jobs due and not yet started (the metrics' queue depth): ARQ keeps a running job in its
        sorted set until it ends, so the running ones among the oldest are taken off."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(self.queue_name, float("-inf"), timestamp_ms())
            pipe.zrange(self.queue_name, 0, RUNNING_SCAN - 1)
            due, oldest = await pipe.execute()
        if not oldest:
            return int(due)
        started: int = await self.redis.exists(*(in_progress_key_prefix + _text(job) for job in oldest))
        return max(0, int(due) - started)

    async def remove(self, job_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.queue_name, job_id)
            pipe.exists(in_progress_key_prefix + job_id)
            removed, running = await pipe.execute()
        if running:
            return False  # a worker has it: only an abort stops it now
        await self.redis.delete(job_key_prefix + job_id, retry_key_prefix + job_id)
        return bool(removed)

    async def abort(self, job_id: str) -> None:
        await self.redis.zadd(abort_jobs_ss, {job_id: timestamp_ms()})
        await self.redis.publish(wake_channel(self.queue_name), b"")

    async def release(self, job_id: str) -> None:
        await self.redis.delete(in_progress_key_prefix + job_id)

    async def lease(self, name: str, ttl_s: float) -> bool:
        got = await self.redis.set(
            f"{self.key_prefix}lease:{name}", b"1", px=max(1, int(ttl_s * 1000)), nx=True
        )
        return bool(got)

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
