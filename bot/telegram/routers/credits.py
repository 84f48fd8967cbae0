"""/balance, /history (with a button per finished job to get its result again) and /cancel.
The rules live in bot/flows/credits.py."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.flows import credits as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.keyboards import ResendJob
from db.jobs import Delivery
from db.models import User


async def balance(message: Message, user: User, t: Translate) -> None:
    # ``user`` was read from the database by the user middleware for this very update: its balance is
    # the current one, and reading it again would cost a second transaction per /balance.
    await message.answer(t("balance", credits=user.balance))


async def history(message: Message, user: User, services: Services, t: Translate) -> None:
    lines = await flow.history(services, user)
    if not lines:
        await message.answer(t("history_empty"))
        return
    text = [t("history_title")] + [_line(t, number, line) for number, line in enumerate(lines, 1)]
    markup = _resend_buttons(lines)
    if markup is not None:
        text.append(t("history_resend_hint"))
    await message.answer("\n".join(text), reply_markup=markup)


def _line(t: Translate, number: int, line: flow.JobLine) -> str:
    kind, status = t(f"kind_{line.kind}"), t(f"status_{line.status}")
    return t("history_line", number=number, kind=kind, status=status, when=line.created_at)


def _resend_buttons(lines: list[flow.JobLine]) -> InlineKeyboardMarkup | None:
    """A numbered button per job whose result is still kept."""
    buttons = []
    for number, line in enumerate(lines, 1):
        if line.resendable:
            kind, _, key = line.job_id.partition(":")
            data = ResendJob(kind=kind, key=key).pack()
            buttons.append(InlineKeyboardButton(text=str(number), callback_data=data))
    if not buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 5] for i in range(0, len(buttons), 5)])


async def resend(
    query: CallbackQuery, callback_data: ResendJob, user: User, services: Services, t: Translate
) -> None:
    chat = query.message.chat.id if query.message is not None else query.from_user.id
    outcome = await flow.resend(
        services, user, f"{callback_data.kind}:{callback_data.key}", Delivery("telegram", str(chat))
    )
    await query.answer(t(outcome.value))


async def cancel(message: Message, user: User, services: Services, t: Translate) -> None:
    done = await flow.cancel(services, user)
    await message.answer("\n".join(t(code, **params) for code, params in flow.cancel_reply(done)))


def build() -> Router:
    router = Router(name="credits")
    router.message(Command("balance"))(balance)
    router.message(Command("history"))(history)
    router.callback_query(ResendJob.filter())(resend)
    router.message(Command("cancel"))(cancel)
    return router
