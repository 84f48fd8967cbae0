"""Every command without a photo, through discord.py's own dispatch: /balance, /history, /cancel,
/privacy, /forget (confirm button; someone else's press), /buy (pack buttons, then the Checkout link
from the fake Stripe; "nothing for sale" without Stripe), admin /stats and /grant, the commands synced
with their translated descriptions, and answers in the user's Discord language."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.discord.context import PLATFORM
from bot.pricing import parse_packs
from bot.services import BotConfig, StripeCheckoutConfig
from db import ledger, users
from db.session import Database
from tests.discord.conftest import SECRET, DiscordHarness, close_dc, open_dc
from tests.discord.kit import jobs_of, png
from tests.fakes import Reply as ScriptReply
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.stripe_server import SECRET_KEY, FakeStripe
from tests.jobs.squares import SquareEngine, picture

pytestmark = pytest.mark.engine("squares")


async def test_the_commands_are_synced_with_translated_descriptions(dc: DiscordHarness) -> None:
    synced = {command["name"]: command for command in dc.fake.commands["global"]}
    assert set(synced) == {
        "swap", "face", "caricature", "balance", "history", "cancel", "buy", "privacy", "forget",
        "stats", "grant", "reports", "Swap my face in", "Report result",
    }  # fmt: skip
    assert synced["Swap my face in"]["type"] == 3  # the message menus
    assert synced["Report result"]["type"] == 3
    assert [option["name"] for option in synced["face"]["options"]] == ["save", "list", "default", "delete"]
    swap = synced["swap"]
    assert swap["description"] == "Put your face into a photo"
    assert swap["description_localizations"]["ru"] == dc.services.texts.text("command_swap", "ru")
    assert swap["description_localizations"]["ru"] != swap["description"]
    styles = next(o for o in synced["caricature"]["options"] if o["name"] == "style")["choices"]
    assert [choice["value"] for choice in styles] == ["warp", "cartoon", "both"]  # what the workers offer


async def test_balance_history_and_privacy_answer_ephemeral(dc: DiscordHarness) -> None:
    alice = dc.person()
    balance = dc.last(await dc.dispatch(alice.command("balance")))
    assert (balance.type, balance.ephemeral, balance.content) == (4, True, "You have 3 credits.")
    history = dc.last(await dc.dispatch(alice.command("history")))
    assert history.content == "You have no jobs yet. Send a photo to start one."
    privacy = dc.last(await dc.dispatch(alice.command("privacy")))
    assert privacy.ephemeral and "Saved faces" in (privacy.content or "")


async def test_commands_work_in_direct_messages_too(dc: DiscordHarness) -> None:
    alice = dc.person()
    alice.dm = True
    alice.channel_id = "5559999"
    answer = dc.last(await dc.dispatch(alice.command("balance")))
    assert answer.ephemeral and answer.content == "You have 3 credits."
    assert (await alice.user()).external_id == str(alice.id)


async def test_answers_follow_the_discord_language(dc: DiscordHarness) -> None:
    ivan = dc.person("ivan", locale="ru")
    answer = dc.last(await dc.dispatch(ivan.command("balance")))
    assert answer.content == dc.services.texts.text("balance", "ru", credits=3)
    assert (await ivan.user()).language == "ru"
    # A language the catalogue lacks: English.
    hans = dc.person("hans", locale="de")
    assert dc.last(await dc.dispatch(hans.command("balance"))).content == "You have 3 credits."


@pytest.mark.engine("squares")
async def test_cancel_refunds_a_waiting_job_and_history_lists_it(dc: DiscordHarness) -> None:
    alice = dc.person()
    runner = dc.queue.transport
    await runner.stop()  # type: ignore[attr-defined]  # nothing runs: the job waits
    photo = alice.attach(png(picture(((200, 30, 30), 40, 40))))
    source = alice.attach(png(picture(((30, 30, 200), 60, 30))))
    await dc.dispatch(alice.command("swap", target=photo, source=source))
    assert (await alice.user()).balance == 2
    cancelled = dc.last(await dc.dispatch(alice.command("cancel")))
    assert cancelled.content == "Cancelled: 1. 1 credits came back; you have 3 credits."
    assert [job.status for job in await jobs_of(dc, alice)] == ["cancelled"]
    again = dc.last(await dc.dispatch(alice.command("cancel")))
    assert again.content == "You have no job waiting or running."
    history = dc.last(await dc.dispatch(alice.command("history")))
    lines = (history.content or "").splitlines()
    assert lines[0] == "Your last jobs (newest first):" and lines[1].startswith("1. face swap: cancelled")


async def test_forget_asks_first_and_only_the_asker_can_confirm(dc: DiscordHarness) -> None:
    alice, bob = dc.person(), dc.person("bob")
    asked = dc.last(await dc.dispatch(alice.command("forget")))
    assert asked.ephemeral and (asked.content or "").startswith("This deletes everything")
    yes, no = (button["custom_id"] for button in asked.payload["components"][0]["components"])

    foreign = dc.last(await dc.dispatch(bob.press(yes)))
    assert foreign.content == "This button is not for you."
    kept = dc.last(await dc.dispatch(alice.press(no)))
    assert (kept.type, kept.payload["content"]) == (7, "Nothing was deleted.")  # the question is replaced
    await alice.user()  # still there

    done = dc.last(await dc.dispatch(alice.press(yes)))
    assert done.kind == "edit" and (done.content or "").startswith("Done: everything about you is deleted")
    assert done.payload["components"] == []
    async with dc.db.session() as session:
        assert await users.find(session, PLATFORM, alice.id) is None
    # The button again, after the user is gone (their identity comes back as a new user).
    again = dc.last(await dc.dispatch(alice.press(yes)))
    assert again.content == "There is nothing left to delete."


async def test_stats_and_grant_are_for_admins_only(dc_postgres: Database, discord_fake: FakeDiscord) -> None:
    admin_id = 777000111222333444
    config = BotConfig(secret_key=SECRET, admins=frozenset({("discord", str(admin_id))}))
    dc = await open_dc(dc_postgres, discord_fake, SquareEngine(), config=config)
    try:
        alice = dc.person()
        admin = dc.person("root")
        admin.id = admin_id
        refused = dc.last(await dc.dispatch(alice.command("stats")))
        assert refused.ephemeral and refused.content == "This command is for the bot's admins only."
        refused = dc.last(await dc.dispatch(alice.command("grant", who=f"discord:{alice.id}", credits=5)))
        assert refused.content == "This command is for the bot's admins only."
        assert (await alice.user()).balance == 3

        stats = dc.last(await dc.dispatch(admin.command("stats")))
        assert (stats.content or "").startswith("Users: ")
        payload = admin.command("grant", who=f"discord:{alice.id}", credits=5)
        granted = dc.last(await dc.dispatch(payload))
        assert granted.content == f"Granted 5 credits to discord:{alice.id}; they have 8 now."
        # The same interaction delivered twice (a gateway replay) grants once.
        replay = dict(payload, token=discord_fake.interaction()[0])
        again = dc.last(await dc.dispatch(replay))
        assert again.content == f"That grant was already made; discord:{alice.id} has 8 credits."
        user = await alice.user()
        async with dc.db.session() as session:
            assert await ledger.balance(session, user.id) == 8
        bad = dc.last(await dc.dispatch(admin.command("grant", who="someone", credits=5)))
        assert (bad.content or "").startswith("Usage: /grant who:")
        nobody = dc.last(await dc.dispatch(admin.command("grant", who="discord:5", credits=5)))
        assert nobody.content == "There is no user discord:5 here."
    finally:
        await close_dc(dc)


async def test_buy_without_stripe_says_nothing_is_for_sale(dc: DiscordHarness) -> None:
    alice = dc.person()
    answer = dc.last(await dc.dispatch(alice.command("buy")))
    assert answer.content == "No credits are for sale here at the moment. Please ask an admin."


async def test_buy_offers_the_card_packs_and_a_press_gives_an_ephemeral_checkout_link(
    dc_postgres: Database, discord_fake: FakeDiscord
) -> None:
    with FakeStripe() as stripe_fake:
        config = BotConfig(
            secret_key=SECRET,
            packs=parse_packs("10:100:199usd,50:450"),  # the second has no card price
            stripe=StripeCheckoutConfig(
                SECRET_KEY, "https://example.com/paid", "https://example.com/cancel", stripe_fake.url
            ),
        )
        dc = await open_dc(dc_postgres, discord_fake, SquareEngine(), config=config)
        try:
            alice, bob = dc.person(), dc.person("bob")
            offer = dc.last(await dc.dispatch(alice.command("buy")))
            assert offer.content == "Choose a pack of credits. You have 3 credits."
            labels = [b["label"] for row in offer.payload["components"] for b in row["components"]]
            assert labels == ["10 credits · 1.99 USD by card"]
            pack = offer.payload["components"][0]["components"][0]["custom_id"]

            assert dc.last(await dc.dispatch(bob.press(pack))).content == "This button is not for you."
            assert stripe_fake.requests == []

            token = await dc.dispatch(alice.press(pack))
            defer, link = dc.replies(token)
            assert defer.type == 5 and defer.ephemeral
            (session,) = stripe_fake.sessions.values()
            (button,) = link.payload["components"][0]["components"]
            assert button["url"] == session["url"] and button["label"] == "Pay 1.99 USD"
            assert "10 credits" in (link.content or "")
            user = await alice.user()
            assert session["client_reference_id"] == str(user.id)
            # A double tap, both presses at once: the same session (one idempotency key).
            await asyncio.gather(dc.dispatch(alice.press(pack)), dc.dispatch(alice.press(pack)))
            assert len(stripe_fake.sessions) == 1 and len(stripe_fake.requests) == 3
            # Credits come only with the signed webhook, never from the press.
            assert (await alice.user()).balance == 3
            async with dc.db.session() as session_:
                assert await ledger.balance(session_, user.id) == 3
        finally:
            await close_dc(dc)


async def test_a_checkout_that_stripe_refuses_is_an_ephemeral_sentence(
    dc_postgres: Database, discord_fake: FakeDiscord
) -> None:
    with FakeStripe() as stripe_fake:
        config = BotConfig(
            secret_key=SECRET,
            packs=parse_packs("10:100:199usd"),
            stripe=StripeCheckoutConfig(SECRET_KEY, "https://e.com/ok", "https://e.com/no", stripe_fake.url),
        )
        dc = await open_dc(dc_postgres, discord_fake, SquareEngine(), config=config)
        try:
            alice = dc.person()
            offer = dc.last(await dc.dispatch(alice.command("buy")))
            for _ in range(5):
                stripe_fake.script.push(ScriptReply(500, "boom"))
            token = await dc.dispatch(
                alice.press(offer.payload["components"][0]["components"][0]["custom_id"])
            )
            assert dc.said(token)[-1] == (
                "The card payment page could not be opened just now. Please try again in a minute."
            )
        finally:
            await close_dc(dc)


async def test_work_is_a_mark_on_the_commands_that_queue_a_job(dc: DiscordHarness) -> None:
    """The daily cap counts the commands marked as work (``extras``), not a list of names: exactly the
    ones that put a photo on the queue."""
    from bot.discord.cogs.limits import is_work

    commands = [*dc.bot.tree.walk_commands(), *dc.bot.tree.get_commands(type=discord.AppCommandType.message)]
    marked = sorted(command.qualified_name for command in commands if is_work(command))
    assert marked == ["Swap my face in", "caricature", "face save", "swap"]
