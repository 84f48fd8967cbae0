"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``bot.telegram.consent.ask``
holds the swap that asked and puts the question with its buttons in its place, as a reply to the
person's message; the buttons' answer is handled here: "I agree" performs the held swap at once (a
photo, an album, ``/swap`` with names, a picker's button), "No" drops it.

Why not the question's ``reply_to_message``: Telegram nests no reply in it, so a ``/swap`` sent as a
reply to a photo has lost the photo there; an album, the names after ``/swap`` and a picker's choice
are not in it at all; and it is gone when the person deleted their message (the question is sent
``allow_sending_without_reply``). The swap is kept on our side instead, keyed by the question."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.flows import consent as flow
from bot.flows import swap as swap_flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import ConsentAnswer, consent_buttons
from bot.telegram.photos import StatusMessage
from db.models import User


async def answer(
    query: CallbackQuery, callback_data: ConsentAnswer, user: User, services: Services, t: Translate
) -> None:
    if callback_data.user != user.id:
        await query.answer(t("not_your_button"))
        return
    if not callback_data.yes:
        await flow.drop(services, user, callback_data.q)
        await _close(query, t("consent_declined"))
        return
    answered_before = not flow.needed(services, user)
    agreed = await flow.agree(services, user, callback_data.version)
    if agreed is flow.Agreed.STALE:
        # Terms replaced since the question: the new ones are asked, nothing is recorded; the swap
        # still waits for the answer.
        await query.answer(t(agreed.value), show_alert=True)
        if isinstance(query.message, Message):
            markup = consent_buttons(t, user.id, services.config.terms_version, callback_data.q)
            await query.message.edit_text(t(flow.ASK), reply_markup=markup)
        return
    request = await flow.release(services, user, callback_data.q)
    if request is None or not isinstance(query.message, Message):
        # Nothing waits (expired, or answered by an earlier press): send it again. A second press
        # leaves the first one's "swapping now" in place.
        if answered_before:
            await query.answer(t(agreed.value), show_alert=True)
            if isinstance(query.message, Message):
                await query.message.edit_reply_markup(reply_markup=None)
            return
        await _close(query, t(agreed.value))
        return
    await _close(query, t("consent_agreed_swapping"))
    status = StatusMessage(query.message, t)
    await status.show(await swap_flow.perform(services, user, request, status.open))


async def _close(query: CallbackQuery, text: str) -> None:
    """Answer the press and replace the question (and its buttons) with the outcome."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)


def build() -> Router:
    router = Router(name="consent")
    router.callback_query(ConsentAnswer.filter())(answer)
    return router
