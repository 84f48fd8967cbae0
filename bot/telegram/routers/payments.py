"""Buying credits with Telegram Stars (and fiat, when a provider token is set): /buy and its pack
buttons, the invoice, the pre-checkout answer, crediting the payment, /paysupport, /terms, and the
admins' /refund (Stars through Telegram here, card payments through Stripe in the flow). The rules live
in bot/flows/payments.py."""

from __future__ import annotations

from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from bot.flows import checkout as card
from bot.flows import payments as flow
from bot.people import Translate
from bot.services import Services
from bot.telegram.filters import Magic
from bot.telegram.keyboards import BuyPack, CheckoutPack
from db.models import User

# refundStarPayment's answer when the Stars went back before (e.g. a refund whose commit was lost).
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


async def buy(message: Message, user: User, services: Services, t: Translate) -> None:
    offers = flow.offers(services)
    if not offers:
        await message.answer(t("buy_nothing_for_sale"))
        return
    cards = {pack.credits for pack in card.telegram_checkout_packs(services)}
    await message.answer(t("buy_choose", balance=user.balance), reply_markup=packs_keyboard(offers, t, cards))


def packs_keyboard(
    offers: list[flow.Offer], t: Translate, cards: set[int] | frozenset[int] = frozenset()
) -> InlineKeyboardMarkup:
    """A row per pack: Stars, a fiat invoice when offered, and a Stripe Checkout link for the pack
    sizes in ``cards``."""
    rows = []
    for offer in offers:
        pack = offer.pack
        row = [
            InlineKeyboardButton(
                text=t("buy_stars_button", credits=pack.credits, stars=pack.stars),
                callback_data=BuyPack(credits=pack.credits).pack(),
            )
        ]
        if offer.fiat and pack.stripe is not None:
            row.append(
                InlineKeyboardButton(
                    text=t("buy_fiat_button", credits=pack.credits, price=flow.price_text(pack.stripe)),
                    callback_data=BuyPack(credits=pack.credits, fiat=True).pack(),
                )
            )
        if pack.credits in cards and pack.stripe is not None:
            row.append(
                InlineKeyboardButton(
                    text=t("buy_checkout_button", credits=pack.credits, price=flow.price_text(pack.stripe)),
                    callback_data=CheckoutPack(credits=pack.credits).pack(),
                )
            )
        rows.append(row)
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def chose_pack(
    query: CallbackQuery, callback_data: BuyPack, user: User, services: Services, t: Translate, bot: Bot
) -> None:
    # The invoice is made for the presser, whoever's /buy message the button is under.
    invoice = flow.invoice(services, user, callback_data.credits, fiat=callback_data.fiat)
    if invoice is None:
        await query.answer(t("buy_pack_gone"), show_alert=True)
        return
    await query.answer()
    credits = invoice.pack.credits
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await bot.send_invoice(
        chat_id=chat_id,
        title=t("invoice_title", credits=credits),
        description=t("invoice_description", credits=credits),
        payload=invoice.payload,
        currency=invoice.currency,
        prices=[LabeledPrice(label=t("invoice_price_label", credits=credits), amount=invoice.amount)],
        provider_token=invoice.provider_token,
    )


async def chose_card(
    query: CallbackQuery, callback_data: CheckoutPack, user: User, services: Services, t: Translate, bot: Bot
) -> None:
    # The link is made for the presser; the credits come with Stripe's signed webhook, not from here.
    link = None
    if card.telegram_checkout_packs(services):
        try:
            link = await card.checkout(services, user, callback_data.credits)
        except card.CheckoutFailed as exc:
            await query.answer(t(exc.code), show_alert=True)
            return
    if link is None or link.pack.stripe is None:
        await query.answer(t("buy_pack_gone"), show_alert=True)
        return
    await query.answer()
    price = flow.price_text(link.pack.stripe)
    button = InlineKeyboardButton(text=t("checkout_open_button", price=price), url=link.url)
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    await bot.send_message(
        chat_id,
        t("checkout_link", credits=link.pack.credits, price=price),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )


async def pre_checkout(query: PreCheckoutQuery, user: User, services: Services, t: Translate) -> None:
    refusal = flow.check_checkout(services, user, query.invoice_payload, query.currency, query.total_amount)
    if refusal is None:
        await query.answer(ok=True)
    else:
        await query.answer(ok=False, error_message=t(refusal.value))


async def paid(message: Message, user: User, services: Services, t: Translate) -> None:
    payment = message.successful_payment
    assert payment is not None  # the filter above
    credited = await flow.credit(
        services,
        user,
        flow.Paid(
            payment.invoice_payload,
            payment.currency,
            payment.total_amount,
            payment.telegram_payment_charge_id,
            payment.provider_payment_charge_id or None,
        ),
    )
    if credited is None:
        await message.answer(t("payment_unrecognized", charge_id=payment.telegram_payment_charge_id))
    elif not credited.replayed:  # the same payment reported again was answered the first time
        # Reversed: refunded or disputed at Stripe before Telegram told us, so nothing was added.
        code = "payment_arrived_reversed" if credited.reversed else "payment_credited"
        await message.answer(t(code, credits=credited.credits, balance=credited.balance))


async def paysupport(message: Message, t: Translate) -> None:
    await message.answer(t("paysupport"))


async def terms(message: Message, services: Services, t: Translate) -> None:
    config = services.config
    await message.answer(
        t(
            "terms",
            version=config.terms_version,
            swap_cost=config.swap_cost,
            caricature_cost=config.caricature_cost,
        )
    )


async def refund(
    message: Message, command: CommandObject, user: User, services: Services, t: Translate, bot: Bot
) -> None:
    async def refund_stars(external_id: str, charge_id: str) -> None:
        try:
            await bot.refund_star_payment(user_id=int(external_id), telegram_payment_charge_id=charge_id)
        except TelegramBadRequest as exc:
            if ALREADY_REFUNDED in exc.message:
                raise flow.AlreadyRefunded from exc
            raise flow.RefundRefused(exc.message) from exc

    done = await flow.refund(services, user, command.args or "", refund_stars)
    amount = done.payment.amount if done.payment is not None else None
    said = {"amount": amount, "price": done.price, "taken": done.taken}
    await message.answer(t(done.code.value, shortfall=done.shortfall, detail=done.detail, **said))
    if done.done and done.payer is not None:
        card = done.code is flow.RefundCode.DONE_CARD
        code = "refund_received_card" if card else "refund_received"
        await tell_payer(bot, services, done.payer, code, **said)


async def tell_payer(bot: Bot, services: Services, payer: User, code: str, **params: object) -> None:
    text = services.texts.text(code, payer.language, **params)
    # A chat that is gone or a bot that was blocked: the refund itself is done and reported.
    with suppress(TelegramBadRequest, TelegramForbiddenError):
        await bot.send_message(int(payer.external_id), text)


def build() -> Router:
    router = Router(name="payments")
    router.message(Command("buy"))(buy)
    router.callback_query(BuyPack.filter())(chose_pack)
    router.callback_query(CheckoutPack.filter())(chose_card)
    router.pre_checkout_query()(pre_checkout)
    router.message(Magic(F.successful_payment))(paid)
    router.message(Command("paysupport"))(paysupport)
    router.message(Command("terms"))(terms)
    router.message(Command("refund"))(refund)
    return router
