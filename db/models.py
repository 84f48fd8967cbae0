"""The tables. Schema only: the rules (money, transitions, limits) live in the repository modules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, BigId, UtcDateTime, utcnow


class Platform(StrEnum):
    TELEGRAM = "telegram"
    DISCORD = "discord"


class Reason(StrEnum):
    PURCHASE = "purchase"
    JOB = "job"
    REFUND = "refund"
    GRANT = "grant"
    BONUS = "bonus"
    ADMIN = "admin"


class Provider(StrEnum):
    TELEGRAM_STARS = "telegram_stars"
    STRIPE = "stripe"


class PaymentStatus(StrEnum):
    PAID = "paid"
    REFUNDED = "refunded"


class JobKind(StrEnum):
    SWAP = "swap"
    CARICATURE = "caricature"
    ENHANCE = "enhance"
    ANALYZE = "analyze"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # A photo with several faces and none chosen: its numbered preview went out, its faces are kept
    # (analysed_faces), its credits were given back; the choice is a new job (db/jobs.py).
    NEEDS_CHOICE = "needs_choice"


def _one_of(column: str, values: type[StrEnum], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        _one_of("platform", Platform, "platform"),
        # Never reuse a deleted user's id on SQLite: ledger keys such as grant:<id> must stay unique.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    # The platform's own user id as text: Discord snowflakes are unsigned 64-bit.
    external_id: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(128))
    language: Mapped[str | None] = mapped_column(String(16))
    # Face restoration after a swap ("gfpgan", "codeformer"); None: off. Checked against what workers offer.
    restorer: Mapped[str | None] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Credits granted on first use (the ledger row is grant:free:<id>); kept for support questions.
    free_credits: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    is_banned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the user agreed to the terms, and to which version (BotConfig.terms_version): a swap needs
    # the current version; None: never agreed.
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    terms_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SavedFace(Base):
    """A saved face: the aligned chip (JPEG), its landmarks and one embedding per model; the fields of
    ``engine.stored.StoredIdentity``. The table keeps its first name, ``identities``."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("user_id", "name"),
        # At most one default per user, enforced by the database on both backends.
        Index(
            "uq_identities_one_default",
            "user_id",
            unique=True,
            postgresql_where=text("is_default"),
            sqlite_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(16))
    chip: Mapped[bytes] = mapped_column(LargeBinary)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    embeddings: Mapped[list[SavedFaceEmbedding]] = relationship(
        back_populates="face",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="SavedFaceEmbedding.model",
    )


class SavedFaceEmbedding(Base):
    """One row per (face, model): a face saved with one engine is never silently used with another."""

    __tablename__ = "identity_embeddings"
    __table_args__ = (
        CheckConstraint("dim > 0", name="dim_positive"),
        # float32 little-endian: the byte length is fixed by the dimension.
        CheckConstraint("length(vector) = 4 * dim", name="vector_length"),
    )

    identity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    face: Mapped[SavedFace] = relationship(back_populates="embeddings")


class FreeGrant(Base):
    """Who has had the free credits, as HMAC-SHA256(secret key, "platform:external_id") and nothing else.

    Survives /forget, so coming back does not grant them again, while holding no platform id.
    """

    __tablename__ = "free_grants"
    __table_args__ = (CheckConstraint("length(digest) = 32", name="digest_length"),)

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)


class LedgerEntry(Base):
    """Append-only. ``user_id`` is nulled by /forget; amounts and keys stay for accounting and replay."""

    __tablename__ = "ledger"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint("balance_after >= 0", name="balance_after_non_negative"),
        _one_of("reason", Reason, "reason"),
        Index("ix_ledger_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_after: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "charge_id"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("credits > 0", name="credits_positive"),
        _one_of("provider", Provider, "provider"),
        _one_of("status", PaymentStatus, "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    charge_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[int] = mapped_column(Integer)  # minor units (cents; stars are their own unit)
    currency: Mapped[str] = mapped_column(String(8))
    credits: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    refunded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set by a refund: the credits taken back (the rest had been spent; a balance never goes below zero).
    credits_reversed: Mapped[int | None] = mapped_column(Integer)
    # Stripe's ids of a Stripe payment, where known: refunds and disputes name them, not our charge id
    # (a Checkout session id, a Telegram charge id). Indexed: every such event looks a payment up.
    stripe_intent: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_charge: Mapped[str | None] = mapped_column(String(255), index=True)


class HeldReversal(Base):
    """A Stripe refund or dispute that came before its payment (Stripe does not order events): kept,
    and applied by ``db.payments.record`` in the transaction that records the payment it names."""

    __tablename__ = "held_reversals"
    __table_args__ = (
        CheckConstraint("stripe_intent IS NOT NULL OR stripe_charge IS NOT NULL", name="names_a_payment"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)  # the Stripe event that asked
    event_type: Mapped[str] = mapped_column(String(64))
    stripe_intent: Mapped[str | None] = mapped_column(String(255), index=True)
    stripe_charge: Mapped[str | None] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    payment_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("payments.id", ondelete="SET NULL"))


class StripeEvent(Base):
    """A Stripe webhook event whose effect is committed (inserted in the same transaction as the effect):
    the same event delivered again, or concurrently, changes nothing."""

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("cost >= 0", name="cost_non_negative"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        _one_of("kind", JobKind, "kind"),
        _one_of("status", JobStatus, "status"),
        Index("ix_jobs_status_queued_at", "status", "queued_at"),
        Index("ix_jobs_status_started_at", "status", "started_at"),
        Index("ix_jobs_created_at", "created_at"),
    )

    # Given by the caller and derived from what the job does: the same request twice is one job.
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # nulled after the retention period
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # references to input files; same
    cost: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    worker_id: Mapped[str | None] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(Text)
    deliver_platform: Mapped[str | None] = mapped_column(String(16))
    deliver_chat: Mapped[str | None] = mapped_column(String(64))
    deliver_message: Mapped[str | None] = mapped_column(String(64))
    deliver_token: Mapped[str | None] = mapped_column(Text)  # Discord interaction token
    deliver_token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    result_ref: Mapped[str | None] = mapped_column(Text)  # e.g. the Telegram file_id of the result
    # The platform's id of the message that carried the result (a report names the job by it); kept
    # after the retention purge: it holds nothing of the picture.
    result_message: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the running worker's lease
    # Set in the same statement that renews the lease for the delivery (db.jobs.begin_delivery): from
    # then on the result is on its way and /cancel is refused; a retry clears it.
    delivering_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # params/inputs/result dropped


class ReportStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class Report(Base):
    """A person's report of a delivered result. ``owner_id``: whose job it was (a confirmed report
    counts against them; enough of them ban automatically). A reporter reports a job once."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("job_id", "reporter_id"),
        _one_of("status", ReportStatus, "status"),
        Index("ix_reports_status_created_at", "status", "created_at"),
        Index("ix_reports_owner_id_status", "owner_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(128), ForeignKey("jobs.id", ondelete="SET NULL"))
    reporter_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=ReportStatus.OPEN.value)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))  # platform:id of the admin


class AnalysedFace(Base):
    """One face an analysis job found, numbered in reading order from 1: what saving it needs (the
    fields of ``engine.stored.StoredIdentity``) and where it is in the photo. Kept for the retention
    period only: the retention purge and /forget delete these rows, never the photo (it is not kept)."""

    __tablename__ = "analysed_faces"
    __table_args__ = (CheckConstraint("number > 0", name="number_positive"),)

    job_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    box: Mapped[list[float]] = mapped_column(JSON)  # x1, y1, x2, y2 in photo pixels
    score: Mapped[float] = mapped_column(Float)
    chip: Mapped[bytes] = mapped_column(LargeBinary)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    # The detection in photo pixels, so the swap a choice asks for reuses it instead of detecting again:
    # the 5 key points, and the 68 landmarks when the engine gives them. None: stored before 0010.
    kps: Mapped[list[list[float]] | None] = mapped_column(JSON, nullable=True)
    points: Mapped[list[list[float]] | None] = mapped_column(JSON, nullable=True)

    embeddings: Mapped[list[AnalysedFaceEmbedding]] = relationship(
        back_populates="face",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="AnalysedFaceEmbedding.model",
    )


class AnalysedFaceEmbedding(Base):
    """One row per (analysed face, model), as ``SavedFaceEmbedding`` is for saved faces."""

    __tablename__ = "analysed_face_embeddings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["job_id", "number"],
            ["analysed_faces.job_id", "analysed_faces.number"],
            ondelete="CASCADE",
        ),
        CheckConstraint("dim > 0", name="dim_positive"),
        CheckConstraint("length(vector) = 4 * dim", name="vector_length"),
    )

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    face: Mapped[AnalysedFace] = relationship(back_populates="embeddings")
