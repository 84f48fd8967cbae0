"""Credit packs for sale, typed: credits, a Telegram Stars price, and optionally a Stripe price.

``SWAPBOT_PACKS`` spells them ``credits:stars[:amount+currency]``, comma-separated, e.g.
``10:100:199usd,50:450:899usd``: 10 credits for 100 Stars or 1.99 USD. Stripe amounts are in the
currency's minor units (cents; yen for JPY), as Stripe itself takes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PACKS_FORMAT = "credits:stars[:amount+currency]"
PACKS_EXAMPLE = "10:100:199usd,50:450:899usd"
DEFAULT_PACKS = "10:100:199usd,50:450:899usd,200:1500:2999usd"

# The ISO 4217 currencies Stripe charges in (lower case, as Stripe spells them).
_CURRENCY_CODES = """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad
    cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd
    hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl
    mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg
    qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah
    ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())

_PACK = re.compile(r"(?P<credits>\d+):(?P<stars>\d+)(?::(?P<amount>\d+)(?P<currency>[a-z]{3}))?")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in the currency's minor units, e.g. ``Money(199, "usd")`` is 1.99 USD."""

    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Pack:
    credits: int
    stars: int  # Telegram Stars (XTR): whole stars, no minor unit
    stripe: Money | None = None  # None: not sold through Stripe


def parse_pack(text: str) -> Pack:
    """One ``credits:stars[:amount+currency]`` item; ValueError saying what is wrong otherwise."""
    match = _PACK.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f'"{text.strip()}" is not {PACKS_FORMAT}')
    credits, stars = int(match["credits"]), int(match["stars"])
    if credits <= 0 or stars <= 0:
        raise ValueError(f'"{text.strip()}": credits and stars must be positive')
    if match["amount"] is None:
        return Pack(credits, stars)
    amount, currency = int(match["amount"]), match["currency"]
    if amount <= 0:
        raise ValueError(f'"{text.strip()}": the Stripe amount must be positive')
    if currency not in CURRENCIES:
        raise ValueError(f'"{text.strip()}": {currency.upper()} is not a currency Stripe charges in')
    return Pack(credits, stars, Money(amount, currency))


def parse_packs(text: str) -> tuple[Pack, ...]:
    """All packs, in the order given; an empty value means nothing is for sale (admins grant credits)."""
    packs = tuple(parse_pack(item) for item in text.split(",") if item.strip())
    # A payment names its pack by credit size (pack_of), so two packs of one size would be ambiguous.
    sizes = [pack.credits for pack in packs]
    for size in sizes:
        if sizes.count(size) > 1:
            raise ValueError(f"two packs of {size} credits: each pack size must be unique")
    return packs


def pack_of(packs: Iterable[Pack], credits: int) -> Pack | None:
    """The pack of this size, or None when none is for sale (e.g. a stale invoice after a price change)."""
    return next((pack for pack in packs if pack.credits == credits), None)
