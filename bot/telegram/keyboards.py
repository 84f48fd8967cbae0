"""Keyboards and CallbackData factories (one class per kind of button; the data a client sends back is
re-checked against the database by the handler, never trusted)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from bot.flows.pickers import Picker, picker_of
from bot.signing import sign
from bot.texts import Catalogue
from jobs.notify import Target

# The main menu: commands as buttons, so every button is also something a person can type.
MAIN_MENU = (("/swap", "/caricature"), ("/faces", "/settings"), ("/balance", "/buy"), ("/help",))


def main_menu() -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(text=command) for command in row] for row in MAIN_MENU]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


class BuyPack(CallbackData, prefix="buy"):
    """A pack button under /buy: the pack is looked up among those on sale when pressed."""

    credits: int
    fiat: bool = False


class CheckoutPack(CallbackData, prefix="card"):
    """A "by card" button under /buy (Stripe Checkout, when the operator offers it on Telegram): pressing
    it makes the presser's Checkout link for the pack, looked up among those on sale."""

    credits: int


# --- swap, saved faces, caricature (routers/swap.py, faces.py, caricature.py) ------------------------
# Job ids go without their "<kind>:" (":" separates CallbackData fields; bot.flows.pickers.Picker puts
# it back). Every press is re-checked by its flow: the job and the saved face must be the presser's.

PICKER_ROW = 5  # number buttons per row (Telegram allows 8)
# Telegram refuses an inline keyboard of more buttons (the message then never arrives). SWAPBOT_MAX_FACES
# keeps the pickers far below it; faces stored before that limit are cut here.
MAX_BUTTONS = 100


class SwapPick(CallbackData, prefix="sp"):
    """Saved face ``face`` onto face ``n`` (0: all) of the photo of swap ``job``."""

    job: str
    face: int
    n: int


class SwapFaces(CallbackData, prefix="sf"):
    """Show the saved faces to choose another one for the photo of swap ``job``."""

    job: str


class SavePick(CallbackData, prefix="fp"):
    """Save face ``n`` of analysis ``job`` (under the name the analysis was asked with)."""

    job: str
    n: int


class FaceAction(CallbackData, prefix="fa"):
    action: str  # "default", "rename", "delete"
    face: int


class CaricatureStyle(CallbackData, prefix="cs"):
    style: str


class CaricatureStrength(CallbackData, prefix="ck"):
    style: str
    strength: float


# --- account (routers/credits.py, privacy.py, settings.py): each press re-checked by its flow ---------


class ResendJob(CallbackData, prefix="rs"):
    """Send job ``<kind>:<key>`` again (the id split at its ":", the CallbackData separator)."""

    kind: str
    key: str


class ForgetAnswer(CallbackData, prefix="fg"):
    """/forget's confirmation for our user ``user`` (a press by anyone else changes nothing)."""

    user: int
    yes: bool


class SettingsOpen(CallbackData, prefix="so"):
    page: str  # "language", "restorer", "face", "main"


class SettingsLanguage(CallbackData, prefix="sl"):
    code: str


class SettingsRestorer(CallbackData, prefix="sr"):
    name: str  # "off" for none


class SettingsFace(CallbackData, prefix="sd"):
    face: int


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _numbers(count: int, data: Callable[[int], CallbackData]) -> list[list[InlineKeyboardButton]]:
    buttons = [_button(str(n), data(n)) for n in range(1, count + 1)]
    return [buttons[i : i + PICKER_ROW] for i in range(0, len(buttons), PICKER_ROW)]


def swap_picker(t: Callable[..., str], job_id: str, face_id: int, count: int) -> InlineKeyboardMarkup:
    """Buttons 1..count and All, each putting saved face ``face_id`` in; then "another saved face"."""
    job = Picker.short(job_id)
    rows = _numbers(min(count, MAX_BUTTONS - 2), lambda n: SwapPick(job=job, face=face_id, n=n))
    rows.append([_button(t("swap_all"), SwapPick(job=job, face=face_id, n=0))])
    rows.append([_button(t("swap_other_face"), SwapFaces(job=job))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def swap_faces(job_id: str, faces: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per saved face (id, name); choosing one shows the numbers for it (SwapPick n=-1)."""
    job = Picker.short(job_id)
    rows = [[_button(name, SwapPick(job=job, face=face, n=-1))] for face, name in faces]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def save_picker(job_id: str, count: int) -> InlineKeyboardMarkup:
    job = Picker.short(job_id)
    rows = _numbers(min(count, MAX_BUTTONS), lambda n: SavePick(job=job, n=n))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def faces_list(t: Callable[..., str], faces: Sequence[tuple[int, str, bool]]) -> InlineKeyboardMarkup:
    """Per saved face (id, name, is_default): its name (★: the default), then default / rename / delete."""
    rows = []
    for face, name, is_default in faces:
        rows.append([_button(f"{'★ ' if is_default else ''}{name}", FaceAction(action="default", face=face))])
        rows.append(
            [
                _button(t("face_make_default"), FaceAction(action="default", face=face)),
                _button(t("face_rename"), FaceAction(action="rename", face=face)),
                _button(t("face_delete"), FaceAction(action="delete", face=face)),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def caricature_styles(t: Callable[..., str], styles: Sequence[str]) -> InlineKeyboardMarkup:
    rows = [[_button(t(f"caricature_style_{style}"), CaricatureStyle(style=style))] for style in styles]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def caricature_strengths(
    t: Callable[..., str], style: str, strengths: Sequence[float]
) -> InlineKeyboardMarkup:
    row = [
        _button(t("caricature_strength", strength=s), CaricatureStrength(style=style, strength=s))
        for s in strengths
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row])


class PickerMarkup:
    """The ``jobs.notify.ResultMarkup`` the composition root hands the worker's Telegram notifier: a
    numbered preview that asks for a choice gets its picker (swap: numbers, All, another face; save:
    numbers). Sentences in the user's language from the catalogue."""

    def __init__(self, texts: Catalogue) -> None:
        self.texts = texts

    def __call__(self, target: Target, face_count: int) -> InlineKeyboardMarkup | None:
        picker = picker_of(target.kind, target.params)

        def t(code: str, **values: Any) -> str:
            return self.texts.text(code, target.language, **values)

        if picker is Picker.SWAP and target.saved_face is not None:
            return swap_picker(t, target.job_id, target.saved_face, face_count)
        if picker is Picker.SAVE:
            return save_picker(target.job_id, face_count)
        return None


# --- consent and reports (routers/consent.py, reports.py) --------------------------------------------


class ConsentAnswer(CallbackData, prefix="tc"):
    """Agree (or not) to terms ``version``, asked of our user ``user`` (a press by anyone else, or for
    terms replaced since, records nothing); ``q``: the question, whose swap waits on our side
    (bot/flows/consent.py), looked up among the presser's own."""

    user: int
    version: str
    yes: bool
    q: str


class ReportAction(CallbackData, prefix="rp"):
    """An admin's decision on report ``report`` (bot.flows.reports.Action), signed for that admin."""

    report: int
    action: str
    sig: str


def consent_buttons(t: Callable[..., str], user_id: int, version: str, question: str) -> InlineKeyboardMarkup:
    row = [
        _button(t("consent_yes"), ConsentAnswer(user=user_id, version=version, yes=True, q=question)),
        _button(t("consent_no"), ConsentAnswer(user=user_id, version=version, yes=False, q=question)),
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def report_payload(report_id: int, action: str) -> str:
    return f"rp:{report_id}:{action}"


def report_buttons(
    t: Callable[..., str], secret: bytes, admin_id: int | str, report_id: int, actions: Sequence[str]
) -> InlineKeyboardMarkup:
    """Confirm / dismiss / ban for one report, signed for the admin they are shown to."""
    row = []
    for action in actions:
        signature = sign(secret, admin_id, report_payload(report_id, action))
        data = ReportAction(report=report_id, action=action, sig=signature)
        row.append(_button(t(f"report_action_{action}"), data))
    return InlineKeyboardMarkup(inline_keyboard=[row])
