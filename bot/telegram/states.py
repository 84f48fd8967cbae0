"""FSM states: conversations that span messages (a command, then the photo or the name it asks for).
Storage is Redis when REDIS_URL is set, memory otherwise (bot.telegram.app.fsm_storage)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class SetFace(StatesGroup):
    photo = State()  # /setface [name] sent without a photo: data "name"


class RenameFace(StatesGroup):
    name = State()  # a Rename button pressed: data "face" (the face id, checked again on rename)


class Caricature(StatesGroup):
    photo = State()  # /caricature sent without a photo
    style = State()  # the photo is known (data "photo"); the style and strength buttons are shown
