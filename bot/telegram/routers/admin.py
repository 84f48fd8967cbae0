"""Admin commands: /stats, /grant, /ban, /unban. For anyone else these handlers do not exist: the
update falls through to whatever an unknown command gets. The rules live in bot/flows/admin.py."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.flows import admin as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.filters import Admin


async def stats(message: Message, services: Services, t: Translate) -> None:
    await message.answer(flow.stats_text(await flow.stats(services), t))


async def grant(message: Message, command: CommandObject, t: Translate, services: Services) -> None:
    parts = (command.args or "").split()
    try:
        if len(parts) != 2 or not parts[1].isdecimal():
            raise flow.BadTarget(command.args or "")
        target, credits = flow.parse_target(parts[0], "telegram"), int(parts[1])
        # The command message's identity: the same message handled twice grants once.
        done = await flow.grant(
            services, target, credits, command_key=f"telegram:{message.chat.id}:{message.message_id}"
        )
    except ValueError:  # BadTarget included; also 0 or more than MAX_GRANT credits
        await message.answer(t("grant_usage"))
        return
    if done.outcome is flow.Outcome.NO_USER:
        await message.answer(t(done.outcome.value, who=done.who))
        return
    code = "grant_done" if done.outcome is flow.Outcome.DONE else "grant_already"
    await message.answer(t(code, credits=credits, who=done.who, balance=done.balance))


async def ban(message: Message, command: CommandObject, t: Translate, services: Services) -> None:
    name = command.command  # "ban" or "unban"
    try:
        target = flow.parse_target((command.args or "").strip(), "telegram")
    except flow.BadTarget:
        await message.answer(t(f"{name}_usage"))
        return
    outcome = await flow.set_banned(services, target, name == "ban")
    who = flow.describe(target)
    if outcome in (flow.Outcome.DONE, flow.Outcome.ALREADY):
        await message.answer(t(f"{name}_{outcome.value}", who=who))
    else:
        await message.answer(t(outcome.value, who=who))


def build() -> Router:
    router = Router(name="admin")
    router.message.filter(Admin())
    router.message(Command("stats"))(stats)
    router.message(Command("grant"))(grant)
    router.message(Command("ban", "unban"))(ban)
    return router
