"""Typed data-layer errors: callers turn each into a clear reply by its stable ``code``."""

from __future__ import annotations


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
