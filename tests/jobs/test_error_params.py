"""One mapping from our typed errors to the catalogue's params (jobs.errors.error_params), used by both
bots' error handlers, the face flows and the worker: what each kind of error hands the sentence."""

from __future__ import annotations

from db.errors import FaceLimitReached, InsufficientCredits, NoSuchFace
from jobs.errors import JobFailure, error_params


class Refusal(Exception):
    """A typed failure of the shape CheckoutFailed has: a ``code`` attribute beside its values."""

    code = "checkout_failed"

    def __init__(self) -> None:
        self.code = "checkout_failed"
        self.credits = 10
        self.retried = True
        self._secret = "sk_live"
        super().__init__("boom")


def test_each_kind_of_error_gives_its_own_params_and_never_the_code() -> None:
    assert error_params(JobFailure("bad_face_index", transient=False, params={"number": 7})) == {"number": 7}
    assert error_params(NoSuchFace(7, 6)) == {"number": 7, "count": 6}
    assert error_params(InsufficientCredits(3, 0, 1)) == {"user_id": 3, "balance": 0, "needed": 1}
    assert error_params(FaceLimitReached(20)).get("limit") == 20
    # public plain values only: not the code (the sentence's key), not a flag, not a private attribute
    assert error_params(Refusal()) == {"credits": 10}
