"""The heavy (queue work) commands: their own cooldown per user, beside the shared bucket (discord.py's
``app_commands.checks.cooldown``), and the mark that says they count against the daily cap."""

from __future__ import annotations

WORK_RATE = 5
WORK_PER_S = 60.0

# ``extras`` of a command that puts work on the queue (discord.py keeps it on the command): the tree's
# check counts such a command against the daily cap.
WORK = {"work": True}


def is_work(command: object) -> bool:
    extras = getattr(command, "extras", None)
    return bool(extras and extras.get("work"))
