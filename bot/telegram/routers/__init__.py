"""Every feature's router, in the order the dispatcher tries them: one line per feature module
(``bot/telegram/routers/<feature>.py`` exposing ``build()``, which makes a new router: a dispatcher
takes a router once, and tests build a dispatcher each). ``errors`` comes first: an error handler is
found on the router tree, and it must see every feature's failures."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers import (
    admin,
    caricature,
    consent,
    credits,
    errors,
    faces,
    payments,
    privacy,
    reports,
    settings,
    stale,
    start,
    swap,
)


def routers() -> list[Router]:
    """New feature routers, in the order the dispatcher tries them (each module's ``build``)."""
    return [
        errors.build(),
        start.build(),
        payments.build(),
        credits.build(),
        privacy.build(),
        settings.build(),
        admin.build(),  # admins only: anyone else falls through, as with an unknown command
        consent.build(),
        reports.build(),
        faces.build(),  # its states (the photo or name it asked for) before swap's "any photo"
        caricature.build(),
        swap.build(),  # keep last among photo handlers: it takes any photo
        stale.build(),  # last: any button press nobody took
    ]
