"""Consent to the terms before the first swap (rules: bot/flows/consent.py): ``ask`` puts the question
with its buttons in place of the swap; the buttons' answer is handled here."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.flows import consent as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import ConsentAnswer, consent_buttons
from db.models import User

router = Router(name="consent")


async def ask(message: Message, user: User, services: Services, t: Translate) -> bool:
    """True when ``user`` must agree first: the question went out (answering ``message``) and the caller
    swaps nothing."""
    if not flow.needed(services, user):
        return False
    markup = consent_buttons(t, user.id, services.config.terms_version)
    await message.answer(t(flow.ASK), reply_markup=markup)
    return True


@router.callback_query(ConsentAnswer.filter())
async def answer(
    query: CallbackQuery, callback_data: ConsentAnswer, user: User, services: Services, t: Translate
) -> None:
    if callback_data.user != user.id:
        await query.answer(t("not_your_button"))
        return
    if not callback_data.yes:
        await _close(query, t("consent_declined"))
        return
    agreed = await flow.agree(services, user, callback_data.version)
    if agreed is flow.Agreed.STALE:
        # Terms replaced since the question: the new ones are asked, nothing is recorded.
        await query.answer(t(agreed.value), show_alert=True)
        if isinstance(query.message, Message):
            markup = consent_buttons(t, user.id, services.config.terms_version)
            await query.message.edit_text(t(flow.ASK), reply_markup=markup)
        return
    await _close(query, t(agreed.value))


async def _close(query: CallbackQuery, text: str) -> None:
    """Answer the press and replace the question (and its buttons) with the outcome."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
