"""English, the reference language: every code has a sentence here."""

from __future__ import annotations

# Codes the catalogue composes from others.
JOB_QUEUED = "job_queued"
JOB_QUEUED_NO_POSITION = "job_queued_no_position"
JOB_CANCELLED = "job_cancelled"
JOB_CANCELLED_REFUNDED = "job_cancelled_refunded"
JOB_FAILED = "job_failed"
REFUNDED = "refunded"
UNKNOWN = "unknown_error"

SENTENCES: dict[str, str] = {
    # job status
    JOB_QUEUED: "Queued: you are #{position}.",
    JOB_QUEUED_NO_POSITION: "Queued.",
    "job_working": "Working on it…",
    "job_done": "Done.",
    JOB_CANCELLED: "Cancelled.",
    JOB_CANCELLED_REFUNDED: "Cancelled. Your credits were refunded.",
    REFUNDED: "Your credits were refunded.",
    UNKNOWN: "Something went wrong. Please try again later.",
    # engine
    "no_face": "I could not find a face in the photo. Try a clear, front-facing photo.",
    "bad_face_index": "That face number does not exist in the photo.",
    "landmarks_required": "Caricatures need the classic engine on this server.",
    "model_missing": "The server is missing a model file; the admins have been told.",
    "stylizer_error": "The drawing service failed. Please try again later.",
    # jobs
    "input_unavailable": "I could not get your photo any more. Please send it again.",
    "input_too_large": "That file is too large. Please send a smaller photo.",
    "face_not_found": "That saved face no longer exists.",
    "embedding_missing": "That saved face was made with another engine. Please save it again.",
    "timeout": "This took too long and was stopped.",
    "worker_lost": "The server working on this stopped.",
    "internal_error": "Something went wrong on our side.",
}
