"""/privacy (what is kept, for how long, how to delete it) and /forget (after a confirmation button).
The rules live in bot/flows/privacy.py."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.flows import privacy as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import ForgetAnswer
from db.models import User


async def privacy(message: Message, user: User, services: Services, t: Translate) -> None:
    kept = await flow.kept(services, user)
    await message.answer(t("privacy", faces=kept.faces, retention_hours=kept.retention_hours))


async def forget(message: Message, user: User, t: Translate) -> None:
    buttons = [
        InlineKeyboardButton(text=t("forget_yes"), callback_data=ForgetAnswer(user=user.id, yes=True).pack()),
        InlineKeyboardButton(text=t("forget_no"), callback_data=ForgetAnswer(user=user.id, yes=False).pack()),
    ]
    await message.answer(t("forget_confirm"), reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]))


async def forget_answer(
    query: CallbackQuery, callback_data: ForgetAnswer, user: User, services: Services, t: Translate
) -> None:
    if callback_data.user != user.id:
        # Someone else's button, or ours from before a /forget (this identity has a new row since).
        gone = not await flow.exists(services, callback_data.user)
        await query.answer(t("forget_nothing" if gone else "not_your_button"))
        return
    if not callback_data.yes:
        await _close(query, t("forget_kept"))
        return
    code, params = flow.forget_reply(await flow.forget(services, user))
    await _close(query, t(code, **params))


async def _close(query: CallbackQuery, text: str) -> None:
    """Answer the press and replace the question (and its buttons) with the outcome."""
    await query.answer()
    if isinstance(query.message, Message):  # not an old message Telegram no longer lets us see
        await query.message.edit_text(text)


def build() -> Router:
    router = Router(name="privacy")
    router.message(Command("privacy"))(privacy)
    router.message(Command("forget"))(forget)
    router.callback_query(ForgetAnswer.filter())(forget_answer)
    return router
