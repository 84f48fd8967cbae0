"""Swapping: any photo (or a photo sent as a file, or ``/swap [name]`` as a reply to one) gets the
default saved face; an album of two photos puts the first one's face into the second; the numbered
picker's buttons (a face number or All, another saved face). Rules: bot/flows/swap.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, or_f
from aiogram.types import CallbackQuery, Message

from bot.flows import consent as consent_flow
from bot.flows import faces as faces_flow
from bot.flows import swap as flow
from bot.flows.base import check_photo
from bot.flows.pickers import Picker
from bot.people import Translate
from bot.services import Services
from bot.telegram import consent
from bot.telegram.albums import AlbumPairs
from bot.telegram.filters import ImageDocument, Magic, OtherDocument
from bot.telegram.keyboards import SwapFaces, SwapPick, swap_faces, swap_picker
from bot.telegram.middlewares.throttling import WORK
from bot.telegram.photos import StatusMessage, photo_of
from db.models import User

# Photos without a command are swapped in private chats only: in a group, people share photos freely.
PRIVATE = Magic(F.chat.type == "private")


async def swap_command(
    message: Message, command: CommandObject, user: User, services: Services, t: Translate
) -> None:
    photo = photo_of(message) or photo_of(message.reply_to_message)
    if photo is None:
        await message.answer(t("swap_needs_photo"))
        return
    names = flow.parse_face_names(command.args)
    await _go(message, user, services, t, flow.SwapRequest.photo(photo, names=names))


async def album_photo(
    message: Message, user: User, services: Services, t: Translate, albums: AlbumPairs
) -> None:
    photo = photo_of(message)
    assert photo is not None
    pair = await albums.pair(f"{message.chat.id}:{message.media_group_id}", message.message_id, photo)
    if pair is None:
        return  # the first photo (kept until the second), or a third and later (ignored)
    await _go(message, user, services, t, flow.SwapRequest.album(pair.source, pair.target))


async def any_photo(message: Message, user: User, services: Services, t: Translate) -> None:
    photo = photo_of(message)
    assert photo is not None
    await _go(message, user, services, t, flow.SwapRequest.photo(photo))


async def _go(
    message: Message, user: User, services: Services, t: Translate, request: flow.SwapRequest
) -> None:
    """``request`` through the one gate (bot/flows/consent.go): the consent question when it is asked,
    else the answer in the status message."""
    status = StatusMessage(message, t)
    answer = await consent_flow.go(services, user, request, status.open)
    if answer.code == consent_flow.ASK:
        await consent.ask(message, user, services, t, answer.params["question"])
    else:
        await status.show(answer)


async def not_a_picture(message: Message, services: Services, t: Translate) -> None:
    photo = photo_of(message)
    assert photo is not None
    refused = check_photo(services, photo)
    assert refused is not None  # not an image, or too large
    await message.answer(t(refused.code, **refused.params))


async def pick(
    query: CallbackQuery, callback_data: SwapPick, user: User, services: Services, t: Translate
) -> None:
    number = callback_data.n or None  # 0: all faces
    if not isinstance(query.message, Message):
        await query.answer(t("picker_stale"))
        return
    request = flow.SwapRequest.choice(Picker.SWAP.job_id(callback_data.job), number, callback_data.face)
    status = StatusMessage(query.message, t)
    answer = await consent_flow.go(services, user, request, status.open)
    if answer.code == consent_flow.ASK:  # the terms changed since the photo
        await query.answer()
        await consent.ask(query.message, user, services, t, answer.params["question"])
        return
    if not answer.submitted and status.sent is None:
        await query.answer(t(answer.code, **answer.params), show_alert=True)
        return
    await query.answer()
    await status.show(answer)


async def other_face(
    query: CallbackQuery, callback_data: SwapFaces, user: User, services: Services, t: Translate
) -> None:
    job = Picker.SWAP.job_id(callback_data.job)
    refused = await flow.picker_refusal(services, user, job)
    faces = await faces_flow.list_faces(services, user)
    if refused is not None or not isinstance(query.message, Message):
        text = t(refused.code, **refused.params) if refused else t("picker_stale")
        await query.answer(text, show_alert=True)
        return
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=swap_faces(job, [(f.id, f.name) for f in faces]))


async def face_chosen(
    query: CallbackQuery, callback_data: SwapPick, user: User, services: Services, t: Translate
) -> None:
    job = Picker.SWAP.job_id(callback_data.job)
    chosen = await flow.picker_face(services, user, job, callback_data.face)
    if isinstance(chosen, flow.Answer) or not isinstance(query.message, Message):
        text = t(chosen.code, **chosen.params) if isinstance(chosen, flow.Answer) else t("picker_stale")
        await query.answer(text, show_alert=True)
        return
    name, count = chosen
    await query.answer(t("swap_face_chosen", name=name))
    await query.message.edit_reply_markup(reply_markup=swap_picker(t, job, callback_data.face, count))


def build() -> Router:
    router = Router(name="swap")
    router.message(Command("swap"), flags=WORK)(swap_command)
    router.message(PRIVATE, Magic(F.media_group_id), or_f(Magic(F.photo), ImageDocument()), flags=WORK)(
        album_photo
    )
    router.message(PRIVATE, or_f(Magic(F.photo), ImageDocument()), flags=WORK)(any_photo)
    router.message(PRIVATE, OtherDocument())(not_a_picture)
    router.callback_query(SwapPick.filter(F.n >= 0))(pick)
    router.callback_query(SwapFaces.filter())(other_face)
    router.callback_query(SwapPick.filter(F.n < 0))(face_chosen)
    return router
