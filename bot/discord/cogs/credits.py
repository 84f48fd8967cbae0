"""/balance, /history, /cancel, and /buy: a button per pack sold by card, then an ephemeral Stripe
Checkout link (bot/flows/checkout.py); the credits come with Stripe's signed webhook, never from here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.buttons import Field, SignedButton
from bot.discord.context import Asker, asker, defer, delivery_for, reply
from bot.discord.describe import describe
from bot.flows import checkout as checkout_flow
from bot.flows import credits as flow
from bot.flows.payments import price_text

if TYPE_CHECKING:
    from bot.discord.client import SwapBot


class CreditsCog(commands.Cog):
    def __init__(self, bot: SwapBot) -> None:
        self.bot = bot

    @app_commands.command(name="balance", description=describe("command_balance"))
    async def balance(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        await reply(interaction, me.t("balance", credits=me.user.balance))

    @app_commands.command(name="history", description=describe("command_history"))
    async def history(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        lines = await flow.history(me.services, me.user)
        if not lines:
            await reply(interaction, me.t("history_empty"))
            return
        text = [me.t("history_title")]
        view = discord.ui.View(timeout=None)
        secret = me.services.config.secret_key
        for number, line in enumerate(lines, 1):
            kind, status = me.t(f"kind_{line.kind}"), me.t(f"status_{line.status}")
            text.append(me.t("history_line", number=number, kind=kind, status=status, when=line.created_at))
            if line.resendable:  # a numbered button sends that result again, free
                view.add_item(
                    ResendButton.signed(secret, interaction.user.id, label=str(number), job_id=line.job_id)
                )
        if view.children:
            text.append(me.t("history_resend_hint"))
        await reply(interaction, "\n".join(text), view=view if view.children else None)

    @app_commands.command(name="cancel", description=describe("command_cancel"))
    async def cancel(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        await defer(interaction)
        done = await flow.cancel(me.services, me.user)
        await reply(interaction, "\n".join(me.t(code, **params) for code, params in flow.cancel_reply(done)))

    @app_commands.command(name="buy", description=describe("command_buy"))
    async def buy(self, interaction: discord.Interaction[SwapBot]) -> None:
        me = asker(interaction)
        packs = checkout_flow.checkout_packs(me.services)
        if not packs:
            await reply(interaction, me.t("buy_nothing_for_sale"))
            return
        view = discord.ui.View(timeout=None)
        secret = me.services.config.secret_key
        for pack in packs[:25]:
            assert pack.stripe is not None
            label = me.t("buy_checkout_button", credits=pack.credits, price=price_text(pack.stripe))
            view.add_item(BuyButton.signed(secret, interaction.user.id, label=label, credits=pack.credits))
        await reply(interaction, me.t("buy_choose", balance=me.user.balance), view=view)


class BuyButton(SignedButton, prefix="buy", fields=(Field.number("credits", 9),)):
    """The pack of ``credits`` credits: looked up among those on sale when pressed."""

    credits: int
    style = discord.ButtonStyle.success

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        # Stripe answers within seconds, but not always within Discord's three.
        await defer(interaction)
        link = await checkout_flow.checkout(me.services, me.user, self.credits)
        if link is None:
            await reply(interaction, me.t("buy_pack_gone"))
            return
        assert link.pack.stripe is not None
        price = price_text(link.pack.stripe)
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label=me.t("checkout_open_button", price=price), url=link.url))
        text = me.t("checkout_link", credits=link.pack.credits, price=price)
        await reply(interaction, text, view=view)


class ResendButton(
    SignedButton, prefix="rs", fields=(Field.text("job_id", r"[a-z]{4,12}:[0-9a-f]{8,64}(?:\.\d+)?"),)
):
    """Send the finished job ``job_id`` again (no new job, no charge), as a followup of this press."""

    job_id: str

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        await defer(interaction)
        original = await interaction.original_response()
        outcome = await flow.resend(me.services, me.user, self.job_id, delivery_for(interaction, original.id))
        await reply(interaction, me.t(outcome.value))
