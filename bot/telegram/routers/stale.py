"""A button press no other router took (a button of an older bot version, data a client made up):
answered with a short sentence, so the person's spinner stops and nothing else happens. Last in the
router order."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.people import Translate


async def stale_button(query: CallbackQuery, t: Translate) -> None:
    await query.answer(t("button_stale"))


def build() -> Router:
    router = Router(name="stale")
    router.callback_query()(stale_button)
    return router
