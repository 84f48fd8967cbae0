"""The heavy (queue work) commands' own cooldown per user, beside the shared bucket (discord.py's
``app_commands.checks.cooldown``)."""

from __future__ import annotations

WORK_RATE = 5
WORK_PER_S = 60.0
