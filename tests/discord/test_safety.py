"""Consent and reports through the Discord bot (the square engine: the rules, not the pictures).

The first /swap (or the "Swap my face in" menu) answers with an ephemeral question and two buttons
signed for the asker, and submits and charges nothing; "No" swaps nothing; agreeing records the time
and the terms version, and the next /swap goes through. The "Report result" message menu on a posted
result records a report once per reporter and DMs the admins; the admins' /reports buttons are signed
for the admin (anyone else's press, or /reports itself, is refused), and confirmed reports ban the
owner at the threshold and not before."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.services import BotConfig
from db.base import utcnow
from db.models import Report
from db.session import Database
from tests.discord.conftest import SECRET, Attachment, DiscordHarness, Person, close_dc, open_dc
from tests.discord.kit import jobs_of, png
from tests.fakes.discord_server import FakeDiscord
from tests.jobs.squares import SquareEngine, picture

ADMIN_ID = random.randint(10**17, 10**18)
RED, BLUE = (30, 30, 200), (200, 30, 30)


@pytest.fixture
async def dc(discord_fake: FakeDiscord, dc_postgres: Database) -> AsyncIterator[DiscordHarness]:
    config = BotConfig(
        secret_key=SECRET, admins=frozenset({("discord", str(ADMIN_ID))}), report_ban_threshold=2
    )
    harness = await open_dc(dc_postgres, discord_fake, SquareEngine(), config=config)
    try:
        yield harness
    finally:
        await close_dc(harness)


def _swap(person: Person, size: int = 40) -> dict[str, Any]:
    target = person.attach(png(picture((RED, size, size))))
    return person.command("swap", target=target, source=person.attach(png(picture((BLUE, 50, 30)))))


def _buttons(payload: dict[str, Any]) -> dict[str, str]:
    """label -> custom id, of a reply's buttons."""
    rows = payload.get("components") or []
    return {b["label"]: b["custom_id"] for row in rows for b in row.get("components", [])}


async def test_the_first_swap_asks_and_agreeing_lets_swaps_through(dc: DiscordHarness) -> None:
    alice, mallory = dc.person(agreed=False), dc.person("mallory")
    question = dc.last(await dc.dispatch(_swap(alice)))
    assert question.ephemeral and (question.content or "").startswith("Before your first swap")
    assert await jobs_of(dc, alice) == [] and (await alice.user()).balance == 3
    menu = dc.last(
        await dc.dispatch(alice.menu("Swap my face in", alice.attach(png(picture((RED, 40, 40))))))
    )
    assert (menu.content or "").startswith("Before your first swap")
    choices = _buttons(question.payload)
    assert set(choices) == {"I agree", "No"}

    refused = dc.last(await dc.dispatch(mallory.press(choices["I agree"])))
    assert refused.content == "This button is not for you."
    no = dc.last(await dc.dispatch(alice.press(choices["No"])))
    assert no.content == dc.services.texts.text("consent_declined", "en")
    await dc.idle()
    assert await jobs_of(dc, alice) == [] and (await alice.user()).terms_accepted_at is None

    before = utcnow()
    agreed = dc.last(await dc.dispatch(alice.press(choices["I agree"])))
    assert agreed.content == dc.services.texts.text("discord_consent_agreed", "en")
    user = await alice.user()
    assert user.terms_version == "1" and user.terms_accepted_at is not None
    assert before - timedelta(seconds=1) <= user.terms_accepted_at <= utcnow()

    await dc.dispatch(_swap(alice))
    await dc.idle()
    (job,) = await jobs_of(dc, alice)
    assert job.status == "succeeded" and (await alice.user()).balance == 2


async def _result(dc: DiscordHarness, owner: Person, size: int) -> Attachment:
    """``owner`` swaps in the channel; the posted result's attachment (what the menu's message carries)."""
    await dc.dispatch(_swap(owner, size))
    await dc.idle()
    job = (await jobs_of(dc, owner))[-1]
    assert job.status == "succeeded" and job.result_ref, job.error_code
    attachment_id = job.result_ref.split("/attachments/")[1].split("/")[0]
    return Attachment(attachment_id, job.result_ref, "result0.jpg", 1000, "image/jpeg")


def _report(person: Person, result: Attachment) -> dict[str, Any]:
    bot = {"id": str(person.harness.fake.application_id), "username": "SwapBot", "discriminator": "0"}
    return person.menu("Report result", result, author={**bot, "avatar": None, "bot": True})


async def test_reports_reach_the_admins_once_and_confirmed_ones_ban_at_the_threshold(
    dc: DiscordHarness,
) -> None:
    owner, bob, carol = dc.person("owner"), dc.person("bob"), dc.person("carol")
    admin = Person(dc, ADMIN_ID, "root")
    first, second = await _result(dc, owner, 40), await _result(dc, owner, 60)

    assert (
        dc.last(await dc.dispatch(_report(bob, first))).content
        == "Thank you: the report is recorded and the admins have been told."
    )
    assert dc.last(await dc.dispatch(_report(bob, first))).content == "You have already reported this result."
    await dc.dispatch(_report(carol, first))
    await dc.dispatch(_report(bob, second))
    not_a_result = bob.menu("Report result", bob.attach(png(picture((RED, 40, 40)))))
    assert dc.last(await dc.dispatch(not_a_result)).content == dc.services.texts.text(
        "report_not_a_result", "en"
    )

    dm = dc.fake.dm_channels[str(ADMIN_ID)]
    notices = [p.content or "" for p in dc.fake.posted_to(dm)]
    owner_id = (await owner.user()).id
    assert len(notices) == 3 and all(f"of @{owner_id}" in text for text in notices)

    token = await dc.dispatch(admin.command("reports"))
    # The first report is the command's answer, the rest its followups: each with its own buttons.
    answers = [r.payload for r in dc.replies(token)] + [
        p.payload for p in dc.fake.posted if p.via == "followup"
    ]
    listed = [a for a in answers if str(a.get("content") or "").startswith("Report #")]
    assert len(listed) >= 3 and all(int(a.get("flags") or 0) & 64 for a in listed)  # ephemeral
    keyboards = {int(str(a["content"]).split("#")[1].split(":")[0]): _buttons(a) for a in listed}
    async with dc.db.session() as session:
        reports = sorted(
            await session.scalars(select(Report).where(Report.owner_id == owner_id)), key=lambda r: r.id
        )
    assert [r.status for r in reports] == ["open"] * 3

    # Not an admin: /reports is refused, and so is a press of the admin's (signed) button.
    assert (
        dc.last(await dc.dispatch(bob.command("reports"))).content
        == "This command is for the bot's admins only."
    )
    assert (
        dc.last(await dc.dispatch(bob.press(keyboards[reports[0].id]["Ban"]))).content
        == "This command is for the bot's admins only."
    )
    forged = keyboards[reports[0].id]["Dismiss"].replace(":dismiss:", ":ban:")
    assert (
        dc.last(await dc.dispatch(admin.press(forged))).content
        == "This command is for the bot's admins only."
    )
    assert not (await owner.user()).is_banned

    await dc.dispatch(admin.press(keyboards[reports[0].id]["Confirm"]))
    assert not (await owner.user()).is_banned  # one confirmed of two
    await dc.dispatch(admin.press(keyboards[reports[1].id]["Dismiss"]))
    assert not (await owner.user()).is_banned
    done = dc.last(await dc.dispatch(admin.press(keyboards[reports[2].id]["Confirm"])))
    assert (await owner.user()).is_banned and "is banned" in (done.content or "")

    stats = dc.last(await dc.dispatch(admin.command("stats"))).content or ""
    assert "Reports: " in stats and "Blocked by the content guard today: " in stats
