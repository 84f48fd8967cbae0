"""English, the reference language: every code the engine and jobs can raise or store has a sentence
here (tests/bot/test_codes.py checks it), and other languages fall back to it code by code.

A sentence is a ``str.format`` template over its code's params. Two more kinds of key, both optional
in every language: ``<code>_<value>`` is read instead of ``<code>`` when a selecting param (``role``,
``hint``) has that value, and ``<code>_no_<param>`` when a param the sentence uses is missing or None.
``{size:mb}`` writes a byte count in megabytes.
"""

from __future__ import annotations

_SEND_INSTEAD = "Please send a photo as JPEG, PNG or WebP."

SENTENCES: dict[str, str] = {
    # job status (jobs/texts.py)
    "job_queued": "Queued: you are #{position}.",
    "job_queued_no_position": "Queued.",
    "job_working": "Working on it…",
    "job_done": "Done.",
    "job_cancelled": "Cancelled.",
    "job_cancelled_refunded": "Cancelled. Your credits were refunded.",
    "refunded": "Your credits were refunded.",
    "unknown_error": "Something went wrong. Please try again later.",
    # images (engine/imageio)
    "image_rejected": f"I cannot use this file as a photo. {_SEND_INSTEAD}",
    "empty": f"The file is empty. {_SEND_INSTEAD}",
    "not_an_image": f"This is {{what}}, not a picture. {_SEND_INSTEAD}",
    "not_an_image_no_what": f"This file is not a picture I can read. {_SEND_INSTEAD}",
    "unsupported_format": f"This {{format}} image is in a form I cannot read. {_SEND_INSTEAD}",
    "unsupported_format_animation": (
        f"{{format}} animations cannot be used: I need a still picture. {_SEND_INSTEAD}"
    ),
    "unsupported_format_iphone": (
        "I cannot read {format} photos. On an iPhone, send it as a photo rather than as a file: "
        "it then arrives as a JPEG."
    ),
    "truncated": "The image file is incomplete (the upload was cut off). Please send it again.",
    "corrupt": "The image file is damaged and cannot be read. Please send another copy of the photo.",
    "too_small": (
        "The image is too small ({width}×{height} pixels): each side must be at least {min_side} pixels. "
        "Please send a bigger photo."
    ),
    "too_large": (
        "The image is too large ({width}×{height} pixels): the limit is {max_megapixels:g} megapixels "
        "and {max_side} pixels a side. Please send a smaller photo."
    ),
    "too_large_no_width": (
        "The image is too large: the limit is {max_megapixels:g} megapixels and {max_side} pixels a side. "
        "Please send a smaller photo."
    ),
    "too_complex": (
        "This image is stored in {scans} passes, more than the {max_scans} I take. "
        "Please save it again as an ordinary JPEG or PNG and send that."
    ),
    "file_too_large": (
        "That file is {size:mb} MB; I take files up to {max_bytes:mb} MB. Please send a smaller photo."
    ),
    "file_too_large_no_size": (
        "That file is too large: I take files up to {max_bytes:mb} MB. Please send a smaller photo."
    ),
    # faces (engine)
    "engine_error": "I could not process this picture. Please try another photo.",
    "no_face": (
        "I could not find a face in the photo. Please send a clear photo of a face looking at the camera."
    ),
    "no_face_source": (
        "I could not find a face in the photo of the face to use. "
        "Please send a clear photo of that face looking at the camera."
    ),
    "no_face_target": (
        "I could not find a face to swap in that photo. "
        "Please send a photo where the faces are clear and look at the camera."
    ),
    "no_face_caricature": (
        "I could not find a face to draw a caricature of. "
        "Please send a clear photo of a face looking at the camera."
    ),
    "bad_face_index": (
        "There is no face {number}: the photo has {count} face(s). Please pick a number from 1 to {count}."
    ),
    "landmarks_required": (
        "Caricatures need the 68 face landmarks that only the classic engine finds. "
        "Please draw them with the classic engine."
    ),
    "embedding_missing": "That saved face was made with another engine. Please save it again from a photo.",
    "saved_face_corrupt": "That saved face cannot be read any more. Please save it again from a photo.",
    # models (engine/models): read by the admins, who can act on them
    "model_missing": (
        "This server is missing the model file {path} (model {name}). To install it, run "
        "`swapbot models fetch {name}` on a machine with internet, or copy the file there."
    ),
    "bundled_model_missing": (
        "This server is missing the model file {path} (model {name}), which ships with the Python "
        "package {package}. To install it, run `pip install {package}`."
    ),
    "model_fetch_failed": (
        "I could not download and verify the model {name}. Check the connection and run "
        "`swapbot models fetch {name}` again, or copy the file into the models folder by hand."
    ),
    # remote caricature styles (engine/stylize)
    "stylizer_error": (
        "The drawing service ({service}) could not draw this one. "
        "Please try again later, or pick a local style: warp, cartoon or both."
    ),
    "stylizer_unavailable": (
        "The {style} style is not set up on this server. Please pick another style: warp, cartoon or both."
    ),
    # the queue (jobs/)
    "input_unavailable": "I could not get your photo any more. Please send it again.",
    "input_fetch_failed": "I could not download your photo just now. Please try again in a minute.",
    "delivery_failed": "I could not send the result just now. Please try again in a minute.",
    "undelivered": "I could not send the result to this chat. Please check that the bot may post here.",
    "no_notifier": "This server cannot send results to {platform}. Please try again later.",
    "no_telegram": "This server cannot fetch photos from Telegram. Please try again later.",
    "unsupported_kind": "This server does not run {kind} jobs. Please try again later.",
    "bad_request": "That request was incomplete. Please start again.",
    "face_not_found": "That saved face no longer exists. Please save it again, or pick another one.",
    "user_not_found": "Your account no longer exists here. Send /start to begin again.",
    "timeout": "This took too long and was stopped. Please try again, perhaps with a smaller photo.",
    "network": "A connection failed on our side. Please try again in a minute.",
    "internal_error": "Something went wrong on our side. Please try again later.",
    "worker_lost": "The server working on this stopped. Please try again.",
    "expired": "This waited too long in the queue and was cancelled. Please try again later.",
    # face analysis and saving a face from it (jobs/analysis, jobs/faces)
    "faces_found": "Faces found: {count}. Pick one by its number.",
    "face_not_saved": "I could not save that face. Please try again.",
    "not_your_analysis": "That face picker is not yours, or it no longer exists. Please send your own photo.",
    "analysis_not_finished": "I am still looking for the faces in that photo. Please wait for the numbers.",
    "analysis_not_finished_failed": (
        "The face search on that photo did not finish. Please send the photo again."
    ),
    "analysis_not_finished_cancelled": (
        "The face search on that photo was cancelled. Please send the photo again."
    ),
    "analysis_expired": (
        "That face picker has expired and its faces were deleted. Please send the photo again."
    ),
}
