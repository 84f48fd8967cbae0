"""/start (welcome, consent, free credits, the main menu) and /help (every command with an example)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.people import Translate, help_text, welcome_text
from bot.services import Services
from bot.telegram.keyboards import main_menu
from db.models import User


async def start(message: Message, user: User, new_user: bool, t: Translate) -> None:
    await message.answer(welcome_text(t, user, new_user), reply_markup=main_menu())


async def help_command(message: Message, user: User, services: Services, t: Translate) -> None:
    await message.answer(help_text(t, admin=services.config.is_admin(user.platform, user.external_id)))


def build() -> Router:
    router = Router(name="start")
    router.message(CommandStart())(start)
    router.message(Command("help"))(help_command)
    return router
