"""Every feature's router, in the order the dispatcher tries them: one line per feature module
(``bot/telegram/routers/<feature>.py`` exposing ``router``). ``errors`` comes first: an error handler
is found on the router tree, and it must see every feature's failures."""

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

ROUTERS: list[Router] = [
    errors.router,
    start.router,
    payments.router,
    credits.router,
    privacy.router,
    settings.router,
    admin.router,  # admins only: anyone else falls through, as with an unknown command
    consent.router,
    reports.router,
    faces.router,  # its states (the photo or name it asked for) before swap's "any photo"
    caricature.router,
    swap.router,  # keep last among photo handlers: it takes any photo
    stale.router,  # last: any button press nobody took
]


def routers() -> list[Router]:
    """The feature routers, free to attach. aiogram attaches a router to one parent only; a process
    builds one dispatcher, but tests build one per test, so a router is first taken off the dispatcher
    that held it before."""
    for router in ROUTERS:
        parent = router.parent_router
        if parent is not None:
            parent.sub_routers.remove(router)
            router._parent_router = None  # aiogram has no public detach
    return list(ROUTERS)
