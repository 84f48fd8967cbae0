"""Queue and worker settings as plain values: the command line maps ``swapbot.settings`` onto these,
so jobs/ never reads the environment or imports the settings module. The engine's part is the
engine's own ``EngineSpec``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.factory import EngineSpec
from engine.imageio import MAX_FILE_BYTES
from jobs.results import DISCORD_UPLOAD_LIMIT


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """How jobs move. Times are seconds.

    ``job_timeout_s`` bounds fetching the inputs plus the engine; delivering the result has its own
    ``delivery_timeout_s``. A running job holds a lease in the database for its timeout plus
    ``lease_grace_s``; the sweeper re-queues jobs whose lease ran out (their worker died).
    """

    redis_url: str | None = None  # None: the in-process runner
    queue_name: str = "swapbot:queue"
    concurrency: int = 8  # jobs in flight per worker process (most of a job's life is I/O)
    engine_slots: int = 1  # engine calls at once per process: one per GPU
    job_timeout_s: float = 120.0
    delivery_timeout_s: float = 60.0
    max_tries: int = 3
    retry_base_s: float = 2.0  # transient failures back off base * 2**(try - 1), up to retry_max_s
    retry_max_s: float = 120.0
    delivery_attempts: int = 3  # in-place attempts of one delivery before the whole job is retried
    poll_delay_s: float = 0.005  # how often an idle worker looks at the queue (a Redis read, ~0.1 ms)
    health_check_interval_s: float = 30.0
    sweep_interval_s: float = 30.0
    lost_after_s: float = 60.0  # a queued job older than this is re-enqueued if Redis does not have it
    queued_max_age_s: float = 3600.0  # a job still waiting this long after it was asked for is cancelled
    lease_grace_s: float = 10.0
    retention_hours: float = 24.0
    cleanup_interval_s: float = 600.0
    max_input_bytes: int = MAX_FILE_BYTES  # the Bot API's own download limit, as the CLI's
    # The faces a job works with per photo: the largest this many (an analysis embeds and stores each,
    # free; the pickers make a button each). None: every face.
    max_faces: int | None = 20
    spool_dir: Path | None = None  # files we own (local inputs, local results): deleted by retention
    # On SIGTERM a worker takes no new job and waits this long for its running ones (they finish and
    # are delivered); a job still running then is interrupted and queued again. The embedded runner,
    # which no other worker backs up, runs its waiting jobs too in that time. Below compose's
    # stop_grace_period (150 s), so the process exits before Docker kills it.
    shutdown_grace_s: float = 120.0

    def backoff_s(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1``; a server's own ``retry_after`` wins when longer."""
        wait = min(self.retry_max_s, self.retry_base_s * 2.0 ** max(0, attempt - 1))
        return max(wait, retry_after or 0.0)

    @property
    def lease_s(self) -> float:
        return self.job_timeout_s + self.lease_grace_s

    @property
    def delivery_lease_s(self) -> float:
        return self.delivery_timeout_s + self.lease_grace_s

    @property
    def task_timeout_s(self) -> float:
        """ARQ's own limit: above ours, so our timeouts fire first and are handled as ours."""
        return self.job_timeout_s + self.delivery_timeout_s + self.lease_grace_s


# Where Discord serves message attachments (the URLs interactions carry).
DISCORD_ATTACHMENT_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Where URL inputs may be fetched from (``jobs.url_guard`` enforces it): https on these hosts, and
    only at public addresses. ``allow_private`` (tests: fakes on 127.0.0.1 over plain HTTP) also takes
    http and loopback/private addresses; the host list holds either way."""

    hosts: frozenset[str] = frozenset(DISCORD_ATTACHMENT_HOSTS)
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str
    api_url: str = "https://api.telegram.org"
    timeout_s: float = 60.0  # one Bot API call, uploads included


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    token: str
    api_url: str = "https://discord.com/api/v10"
    application_id: int | None = None  # None: asked from the API at start-up
    upload_limit_bytes: int = DISCORD_UPLOAD_LIMIT  # results over it are re-encoded to fit


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything ``swapbot worker`` needs."""

    database_url: str
    queue: QueueConfig = field(default_factory=QueueConfig)
    engine: EngineSpec = field(default_factory=EngineSpec)
    telegram: TelegramConfig | None = None
    discord: DiscordConfig | None = None
    urls: UrlPolicy = field(default_factory=UrlPolicy)
    metrics_port: int = 0  # where /metrics is served (jobs.metrics); 0: not served
