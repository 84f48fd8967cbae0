"""/balance, /history, /cancel, and /buy: a button per pack sold by card, then an ephemeral Stripe
Checkout link (bot/flows/checkout.py); the credits come with Stripe's signed webhook, never from here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.context import asker, defer, delivery_for, enter, reply, services_of
from bot.discord.describe import describe
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify
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
                signature = sign(secret, interaction.user.id, f"rs:{line.job_id}")
                view.add_item(ResendButton(line.job_id, signature, str(number)))
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
            signature = sign(secret, interaction.user.id, f"buy:{pack.credits}")
            view.add_item(BuyButton(pack.credits, signature, label))
        await reply(interaction, me.t("buy_choose", balance=me.user.balance), view=view)


class BuyButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"buy:(?P<credits>\d{{1,9}}):{SIGNATURE}"),
):
    """The pack of ``credits`` credits: looked up among those on sale when pressed."""

    def __init__(self, credits: int, signature: str, label: str = "…") -> None:
        self.credits, self.signature = credits, signature
        super().__init__(
            discord.ui.Button(
                label=label[:80], custom_id=f"buy:{credits}:{signature}", style=discord.ButtonStyle.success
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BuyButton:
        return cls(int(match["credits"]), match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            me = await enter(interaction)
            secret = services_of(interaction).config.secret_key
            if not verify(secret, interaction.user.id, f"buy:{self.credits}", self.signature):
                await reply(interaction, me.t("not_your_button"))
                return
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
        except Exception as exc:
            await on_error(interaction, exc)


class ResendButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.compile(rf"rs:(?P<job>[a-z]{{4,12}}:[0-9a-f]{{8,64}}(?:\.\d+)?):{SIGNATURE}"),
):
    """Send the finished job ``job`` again (no new job, no charge), as a followup of this press."""

    def __init__(self, job_id: str, signature: str, label: str = "…") -> None:
        self.job_id, self.signature = job_id, signature
        super().__init__(
            discord.ui.Button(
                label=label, custom_id=f"rs:{job_id}:{signature}", style=discord.ButtonStyle.secondary
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ResendButton:
        return cls(match["job"], match["sig"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            me = await enter(interaction)
            secret = services_of(interaction).config.secret_key
            if not verify(secret, interaction.user.id, f"rs:{self.job_id}", self.signature):
                await reply(interaction, me.t("not_your_button"))
                return
            await defer(interaction)
            original = await interaction.original_response()
            outcome = await flow.resend(
                me.services, me.user, self.job_id, delivery_for(interaction, original.id)
            )
            await reply(interaction, me.t(outcome.value))
        except Exception as exc:
            await on_error(interaction, exc)
