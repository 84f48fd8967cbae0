"""Saved faces: ``/setface [name]`` with a photo (captioned, as a reply, or the next one), the save
picker's number buttons, and ``/faces`` with make default / rename / delete. Rules: bot/flows/faces.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.flows import faces as flow
from bot.flows.pickers import Picker
from bot.people import Translate
from bot.services import Services
from bot.telegram.filters import Magic
from bot.telegram.keyboards import FaceAction, SavePick, faces_list
from bot.telegram.middlewares.throttling import WORK
from bot.telegram.photos import StatusMessage, photo_of
from bot.telegram.states import RenameFace, SetFace
from db import faces as db_faces
from db.models import User


async def setface(
    message: Message, command: CommandObject, user: User, services: Services, t: Translate, state: FSMContext
) -> None:
    name = (command.args or "").strip() or None
    photo = photo_of(message) or photo_of(message.reply_to_message)
    if photo is None:
        await state.set_state(SetFace.photo)
        await state.update_data(name=name)
        await message.answer(t("setface_send_photo", name=name))
        return
    await _save(message, user, services, t, photo, name)


async def setface_photo(
    message: Message, user: User, services: Services, t: Translate, state: FSMContext
) -> None:
    name = (await state.get_data()).get("name")
    await state.clear()
    photo = photo_of(message)
    assert photo is not None
    await _save(message, user, services, t, photo, name)


async def _save(
    message: Message, user: User, services: Services, t: Translate, photo: flow.Photo, name: str | None
) -> None:
    status = StatusMessage(message, t)
    await status.show(await flow.start_save(services, user, photo, name, status.open))


async def save_pick(
    query: CallbackQuery, callback_data: SavePick, user: User, services: Services, t: Translate
) -> None:
    answer = await flow.pick(services, user, Picker.SAVE.job_id(callback_data.job), callback_data.n)
    await query.answer(t(answer.code, **answer.params), show_alert=answer.code != "face_saved")
    if answer.code == "face_saved" and isinstance(query.message, Message):
        await query.message.answer(t(answer.code, **answer.params))


async def faces(message: Message, user: User, services: Services, t: Translate) -> None:
    await _show_faces(message, user, services, t)


async def _show_faces(message: Message, user: User, services: Services, t: Translate) -> None:
    saved = await flow.list_faces(services, user)
    if not saved:
        await message.answer(t("faces_empty"))
        return
    rows = [(face.id, face.name, face.is_default) for face in saved]
    await message.answer(
        t("faces_title", count=len(saved), limit=db_faces.MAX_FACES), reply_markup=faces_list(t, rows)
    )


async def rename_asked(
    query: CallbackQuery,
    callback_data: FaceAction,
    user: User,
    services: Services,
    t: Translate,
    state: FSMContext,
) -> None:
    mine = {face.id: face.name for face in await flow.list_faces(services, user)}
    if callback_data.face not in mine:
        await query.answer(t("face_not_found"), show_alert=True)
        return
    await state.set_state(RenameFace.name)
    await state.update_data(face=callback_data.face)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("face_rename_prompt", name=mine[callback_data.face]))


async def rename_given(
    message: Message, user: User, services: Services, t: Translate, state: FSMContext
) -> None:
    face = (await state.get_data()).get("face")
    await state.clear()
    answer = await flow.rename(services, user, int(face or 0), message.text or "")
    await message.answer(t(answer.code, **answer.params))


async def face_action(
    query: CallbackQuery, callback_data: FaceAction, user: User, services: Services, t: Translate
) -> None:
    act = flow.make_default if callback_data.action == "default" else flow.delete
    answer = await act(services, user, callback_data.face)
    await query.answer(t(answer.code, **answer.params), show_alert=answer.code == "face_not_found")
    if answer.code != "face_not_found" and isinstance(query.message, Message):
        saved = await flow.list_faces(services, user)
        rows = [(face.id, face.name, face.is_default) for face in saved]
        await query.message.edit_reply_markup(reply_markup=faces_list(t, rows) if rows else None)


def build() -> Router:
    router = Router(name="faces")
    router.message(Command("setface"), flags=WORK)(setface)
    router.message(StateFilter(SetFace.photo), Magic(F.photo | F.document), flags=WORK)(setface_photo)
    router.callback_query(SavePick.filter())(save_pick)
    router.message(Command("faces"))(faces)
    router.callback_query(FaceAction.filter(F.action == "rename"))(rename_asked)
    # A command leaves the rename.
    router.message(StateFilter(RenameFace.name), Magic(F.text & ~F.text.startswith("/")))(rename_given)
    router.callback_query(FaceAction.filter(F.action.in_({"default", "delete"})))(face_action)
    return router
