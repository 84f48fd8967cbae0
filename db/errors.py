"""Typed data-layer errors: callers turn each into a clear reply by its stable ``code``."""

from __future__ import annotations

from typing import Any


class DbError(Exception):
    code = "db_error"


class UserNotFound(DbError):
    code = "user_not_found"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id} does not exist")


class InsufficientCredits(DbError):
    code = "insufficient_credits"

    def __init__(self, user_id: int, balance: int, needed: int) -> None:
        self.user_id = user_id
        self.balance = balance
        self.needed = needed
        super().__init__(f"user {user_id} has {balance} credits, needs {needed}")


class InvalidName(DbError):
    code = "invalid_name"

    def __init__(self, name: str, max_len: int) -> None:
        self.name = name
        super().__init__(f"face names are 1-{max_len} letters, digits or _, got {name!r}")


class DuplicateName(DbError):
    code = "duplicate_name"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a saved face is already called {name!r}")


class FaceLimitReached(DbError):
    code = "face_limit"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"at most {limit} saved faces per user; delete one first")


class FaceNotFound(DbError):
    code = "face_not_found"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no saved face called {name!r}")


class EmbeddingMissing(DbError):
    """The face was saved with another engine: its embedding for ``model`` does not exist."""

    code = "embedding_missing"

    def __init__(self, name: str, model: str) -> None:
        self.name = name
        self.model = model
        super().__init__(f"saved face {name!r} has no embedding for model {model!r}; save it again")


class JobNotFound(DbError):
    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} does not exist")


class InvalidTransition(DbError):
    code = "invalid_transition"

    def __init__(self, job_id: str, current: str, target: str) -> None:
        self.job_id = job_id
        self.current = current
        self.target = target
        super().__init__(f"job {job_id}: cannot go from {current} to {target}")


class DeliveryUnderway(InvalidTransition):
    """The job's result is being sent: it can no longer be cancelled (nor its user forgotten) until the
    delivery ends, because a result that reaches the chat is paid for."""

    code = "delivery_underway"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, "running", "cancelled")
        self.args = (f"job {job_id}: its result is being delivered",)


class NotRefundable(DbError):
    code = "not_refundable"

    def __init__(self, job_id: str, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id} is {status}; only failed or cancelled jobs are refunded")


class PaymentNotFound(DbError):
    code = "payment_not_found"

    def __init__(self, provider: str, charge_id: str) -> None:
        self.provider = provider
        self.charge_id = charge_id
        super().__init__(f"no {provider} payment {charge_id}")


class FaceNotSaved(DbError):
    """Why a face of a job's photo was not saved: a stable ``code`` and its ``params`` for the
    catalogue; ``str(exc)`` is for logs. ``db.faces.save``'s own refusals (``InvalidName``,
    ``DuplicateName``, ``FaceLimitReached``) pass through as they are."""

    code = "face_not_saved"

    def __init__(self, detail: str = "", /, **params: Any) -> None:
        self.params: dict[str, Any] = params
        super().__init__(detail or self.code.replace("_", " "))


class NotYourAnalysis(FaceNotSaved):
    """No analysis of this user has that id: another user's job, another kind of job, or none at all
    (the three look alike, so a forged button learns nothing)."""

    code = "not_your_analysis"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} is not an analysis of this user")


class AnalysisNotFinished(FaceNotSaved):
    """The analysis has not succeeded: ``hint`` is its status (queued, running, failed, cancelled)."""

    code = "analysis_not_finished"

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"analysis {job_id} is {status}", hint=status)


class AnalysisExpired(FaceNotSaved):
    """The retention period is over: the analysed faces were deleted."""

    code = "analysis_expired"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"analysis {job_id} was purged")


class NoSuchFace(FaceNotSaved):
    """Face ``number`` is not among the ``count`` faces the analysis found."""

    code = "bad_face_index"

    def __init__(self, number: int, count: int) -> None:
        super().__init__(
            f"face {number} does not exist: the photo has {count} face(s)", number=number, count=count
        )
