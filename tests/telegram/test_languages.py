"""The bot speaks the user's language: Telegram's language on first contact, the stored choice after,
English for a language we do not have; aiogram's i18n context follows it; the command menu is set in
every language."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from aiogram.utils.i18n import gettext

from bot.telegram.app import set_commands
from db import users
from tests.telegram.conftest import TelegramHarness


async def test_the_first_answer_is_in_telegrams_language(tg: TelegramHarness) -> None:
    for language_code, language in (("ko-KR", "ko"), ("vi", "vi"), ("ru", "ru"), ("de", "en"), (None, "en")):
        person = tg.person("Kim", language_code=language_code)
        await tg.feed(person.text("/start"))
        said = "\n".join(person.texts())
        assert tg.services.texts.text("start_consent", language) in said, language_code
        assert tg.services.texts.text("start_free_credits", language, credits=3, balance=3) in said
        if language != "en":
            assert tg.services.texts.text("start_consent", "en") not in said


async def test_the_stored_choice_beats_telegrams_language(tg: TelegramHarness) -> None:
    lan = tg.person("Lan", language_code="ru")
    await tg.feed(lan.text("/start"))
    async with tg.db.transaction() as session:  # as /settings stores it
        await users.update_profile(session, (await lan.user()).id, language="vi")
    lan.language_code = "ko"
    await tg.feed(lan.text("/balance"))
    assert lan.texts()[-1] == tg.services.texts.text("balance", "vi", credits=3)
    await tg.feed(lan.text("/no_such_command_here"), lan.text("/help"))
    assert lan.texts()[-1].startswith(tg.services.texts.text("help", "vi"))


async def test_a_ban_is_told_in_the_users_language(tg: TelegramHarness) -> None:
    ivan = tg.person("Ivan", language_code="ru")
    await tg.feed(ivan.text("/start"))
    async with tg.db.transaction() as session:
        await users.update_profile(session, (await ivan.user()).id, is_banned=True)
    await tg.feed(ivan.text("/start"))
    assert ivan.texts()[-1] == tg.services.texts.text("banned", "ru")
    assert ivan.texts()[-1] == "Вы больше не можете пользоваться этим ботом."


async def test_aiogram_gettext_follows_the_users_language(tg: TelegramHarness) -> None:
    router = Router(name="test-gettext")

    @router.message(Command("label"))
    async def label(message: Message) -> None:
        await message.answer(gettext("swap_all"))

    tg.dp.include_router(router)
    tg.dp.sub_routers.insert(0, tg.dp.sub_routers.pop())
    said = {}
    for language_code in ("en", "ru", "ko", "vi"):
        person = tg.person("Ana", language_code=language_code)
        await tg.feed(person.text("/label"))
        said[language_code] = person.texts()[-1]
    assert said == {"en": "All", "ru": "Все", "ko": "전부", "vi": "Tất cả"}


async def test_the_command_menu_is_set_in_every_language(tg: TelegramHarness) -> None:
    await set_commands(tg.bot, tg.services)
    menus = {call.get("language_code"): call["commands"] for call in tg.telegram.called("setMyCommands")}
    assert set(menus) == {None, "ru", "ko", "vi"}  # None: the default menu, in English
    for language in ("ru", "ko", "vi"):
        descriptions = {c["command"]: c["description"] for c in menus[language]}
        assert descriptions["buy"] == tg.services.texts.text("command_buy", language)
        assert descriptions["buy"] != tg.services.texts.text("command_buy", "en")
