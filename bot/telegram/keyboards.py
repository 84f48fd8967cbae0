"""Keyboards and CallbackData factories (one class per kind of button; the data a client sends back is
re-checked against the database by the handler, never trusted)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

# The main menu: commands as buttons, so every button is also something a person can type.
MAIN_MENU = (("/swap", "/caricature"), ("/faces", "/settings"), ("/balance", "/buy"), ("/help",))


def main_menu() -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(text=command) for command in row] for row in MAIN_MENU]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


class BuyPack(CallbackData, prefix="buy"):
    """A pack button under /buy: the pack is looked up among those on sale when pressed."""

    credits: int
    fiat: bool = False
