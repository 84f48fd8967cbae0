"""/settings: the restorer after a swap, the language, the default face, on one message whose buttons
open each choice. The rules live in bot/flows/settings.py."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.flows import settings as flow
from bot.people import Translate, translator
from bot.services import Services
from bot.telegram.keyboards import SettingsFace, SettingsLanguage, SettingsOpen, SettingsRestorer
from db.models import User

OFF = "off"


async def settings(message: Message, user: User, services: Services, t: Translate) -> None:
    text, markup = await _main(services, user, t)
    await message.answer(text, reply_markup=markup)


async def open_page(
    query: CallbackQuery, callback_data: SettingsOpen, user: User, services: Services, t: Translate
) -> None:
    view = await flow.view(services, user)
    if callback_data.page == "language":
        rows = [[_button(name, SettingsLanguage(code=code))] for code, name in flow.LANGUAGES.items()]
        await _show(query, t("settings_choose_language"), rows)
    elif callback_data.page == "restorer":
        rows = [[_button(flow.RESTORER_NAMES.get(r, r), SettingsRestorer(name=r))] for r in view.restorers]
        rows.append([_button(t("settings_off"), SettingsRestorer(name=OFF))])
        await _show(query, t("settings_choose_restorer"), rows)
    elif callback_data.page == "face" and view.faces:
        rows = [[_button(f.name, SettingsFace(face=f.face_id))] for f in view.faces]
        await _show(query, t("settings_choose_face"), rows)
    elif callback_data.page == "face":
        await query.answer(t("settings_no_faces"), show_alert=True)
    else:
        await _back(query, services, user, t, None)


async def set_language(
    query: CallbackQuery, callback_data: SettingsLanguage, user: User, services: Services, t: Translate
) -> None:
    changed = await flow.set_language(services, user, callback_data.code)
    if changed is not flow.Changed.DONE:
        await query.answer(t(changed.value), show_alert=True)
        return
    t = translator(services, user.language)  # from this answer on, the chosen language
    await _back(query, services, user, t, t("settings_language_set"))


async def set_restorer(
    query: CallbackQuery, callback_data: SettingsRestorer, user: User, services: Services, t: Translate
) -> None:
    restorer = None if callback_data.name == OFF else callback_data.name
    changed = await flow.set_restorer(services, user, restorer)
    if changed is not flow.Changed.DONE:
        await query.answer(t(changed.value), show_alert=True)
        return
    said = (
        t("settings_restorer_set", restorer=flow.RESTORER_NAMES.get(restorer, restorer))
        if restorer
        else t("settings_restorer_off")
    )
    await _back(query, services, user, t, said)


async def set_face(
    query: CallbackQuery, callback_data: SettingsFace, user: User, services: Services, t: Translate
) -> None:
    name = await flow.set_default_face(services, user, callback_data.face)
    if name is None:  # not this person's face, or deleted since
        await query.answer(t("settings_unavailable"), show_alert=True)
        return
    await _back(query, services, user, t, t("settings_face_set", name=name))


async def _main(services: Services, user: User, t: Translate) -> tuple[str, InlineKeyboardMarkup]:
    view = await flow.view(services, user)
    restorer = flow.RESTORER_NAMES.get(view.restorer, view.restorer) if view.restorer else t("settings_off")
    text = t(
        "settings",
        language=flow.LANGUAGES[view.language],
        restorer=restorer,
        face=view.default_face or t("settings_none"),
    )
    rows = [[_button(t("settings_pick_language"), SettingsOpen(page="language"))]]
    if view.restorers:  # the workers have restoration models
        rows.append([_button(t("settings_pick_restorer"), SettingsOpen(page="restorer"))])
    rows.append([_button(t("settings_pick_face"), SettingsOpen(page="face"))])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _back(query: CallbackQuery, services: Services, user: User, t: Translate, said: str | None) -> None:
    """Answer the press (with what changed) and show the settings again."""
    await query.answer(said)
    text, markup = await _main(services, user, t)
    if isinstance(query.message, Message):
        await query.message.edit_text(f"{said}\n\n{text}" if said else text, reply_markup=markup)


async def _show(query: CallbackQuery, text: str, rows: list[list[InlineKeyboardButton]]) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


def _button(
    text: str, data: SettingsOpen | SettingsLanguage | SettingsRestorer | SettingsFace
) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def build() -> Router:
    router = Router(name="settings")
    router.message(Command("settings"))(settings)
    router.callback_query(SettingsOpen.filter())(open_page)
    router.callback_query(SettingsLanguage.filter())(set_language)
    router.callback_query(SettingsRestorer.filter())(set_restorer)
    router.callback_query(SettingsFace.filter())(set_face)
    return router
