"""Caricatures: ``/caricature`` as a reply to a photo, or followed by the photo; then buttons choose the
style (exactly what the workers offer) and the strength. Rules: bot/flows/caricature.py.

The photo waits in the presser's own FSM data: a button pressed by anyone else finds none and is
refused with a short answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.flows import caricature as flow
from bot.flows.base import Photo, check_photo
from bot.people import Translate
from bot.services import Services
from bot.telegram.filters import Magic
from bot.telegram.keyboards import (
    CaricatureStrength,
    CaricatureStyle,
    caricature_strengths,
    caricature_styles,
)
from bot.telegram.middlewares.throttling import WORK
from bot.telegram.photos import StatusMessage, photo_of
from bot.telegram.states import Caricature
from db.models import User


async def caricature(message: Message, services: Services, t: Translate, state: FSMContext) -> None:
    photo = photo_of(message) or photo_of(message.reply_to_message)
    if photo is None:
        await state.set_state(Caricature.photo)
        await message.answer(t("caricature_needs_photo"))
        return
    await _ask_style(message, services, t, state, photo)


async def caricature_photo(message: Message, services: Services, t: Translate, state: FSMContext) -> None:
    photo = photo_of(message)
    assert photo is not None
    await _ask_style(message, services, t, state, photo)


async def _ask_style(
    message: Message, services: Services, t: Translate, state: FSMContext, photo: Photo
) -> None:
    refused = check_photo(services, photo)
    if refused is not None:
        await state.clear()
        await message.answer(t(refused.code, **refused.params))
        return
    await state.set_state(Caricature.style)
    await state.update_data(photo=photo.to_json())
    await message.answer(t("caricature_pick_style"), reply_markup=caricature_styles(t, flow.styles(services)))


async def style_chosen(
    query: CallbackQuery, callback_data: CaricatureStyle, services: Services, t: Translate, state: FSMContext
) -> None:
    if "photo" not in await state.get_data() or not isinstance(query.message, Message):
        await query.answer(t("picker_stale"), show_alert=True)
        return
    await query.answer()
    markup = caricature_strengths(t, callback_data.style, flow.STRENGTHS)
    text = t("caricature_pick_strength", style=callback_data.style)
    await query.message.edit_text(text, reply_markup=markup)


async def strength_chosen(
    query: CallbackQuery,
    callback_data: CaricatureStrength,
    user: User,
    services: Services,
    t: Translate,
    state: FSMContext,
) -> None:
    data = await state.get_data()
    if "photo" not in data or not isinstance(query.message, Message):
        await query.answer(t("picker_stale"), show_alert=True)
        return
    await state.clear()
    await query.answer()
    status = StatusMessage(query.message, t)
    photo = Photo.from_json(data["photo"])
    answer = await flow.caricature(
        services, user, photo, callback_data.style, callback_data.strength, status.open
    )
    await status.show(answer)


def build() -> Router:
    router = Router(name="caricature")
    router.message(Command("caricature"), flags=WORK)(caricature)
    router.message(StateFilter(Caricature.photo), Magic(F.photo | F.document), flags=WORK)(caricature_photo)
    router.callback_query(CaricatureStyle.filter())(style_chosen)
    router.callback_query(CaricatureStrength.filter())(strength_chosen)
    return router
