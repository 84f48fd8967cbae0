"""The signed-button base (bot/discord/buttons.py), through discord.py's own dispatch of the real
buttons: for /forget's confirm, the consent question and /history's resend, a forged signature (another
key, or signed for someone else), an altered id under a real signature and another person's press are
each told "not for you" and change nothing, while the proper press works; a stale press (signed for
this identity, but naming one of our users that is not theirs: from before a /forget, or invented) is
refused the same way. The custom ids keep the form buttons already posted in chats carry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.discord.cogs.credits import BuyButton, ResendButton
from bot.discord.cogs.privacy import ForgetButton
from bot.discord.consent import ConsentButton
from bot.discord.picker import SavePickButton, SwapPickButton
from bot.discord.reports import ReportButton
from bot.discord.signing import sign
from db import users
from tests.discord.conftest import SECRET, DiscordHarness, Person
from tests.discord.kit import jobs_of, png
from tests.jobs.squares import picture

pytestmark = pytest.mark.engine("squares")

NOT_YOURS = "This button is not for you."


def _labelled(dc: DiscordHarness, token: str) -> dict[str, str]:
    """label -> custom id, of the buttons that answered interaction ``token``."""
    rows = dc.last(token).payload.get("components") or []
    return {b["label"]: b["custom_id"] for row in rows for b in row.get("components", [])}


def _swap(person: Person) -> dict[str, object]:
    target = person.attach(png(picture(((200, 30, 30), 40, 40))))
    source = person.attach(png(picture(((30, 30, 200), 60, 30))))
    return person.command("swap", target=target, source=source)


def _resigned(custom_id: str, signature: str) -> str:
    return f"{custom_id.rpartition(':')[0]}:{signature}"


def _payload(custom_id: str) -> str:
    return custom_id.rpartition(":")[0]


async def _exists(dc: DiscordHarness, person: Person) -> bool:
    async with dc.db.session() as session:
        return await users.find(session, "discord", person.id) is not None


@dataclass
class Case:
    """A button of alice's: ``make`` posts it and returns (its id, an altered id under a real signature);
    ``untouched`` asserts that nothing happened; ``works`` presses it properly and asserts the effect."""

    make: Callable[[DiscordHarness, Person], Awaitable[tuple[str, str]]]
    untouched: Callable[[DiscordHarness, Person], Awaitable[None]]
    works: Callable[[DiscordHarness, Person, str], Awaitable[None]]
    agreed: bool = True


async def _forget_make(dc: DiscordHarness, alice: Person) -> tuple[str, str]:
    choices = _labelled(dc, await dc.dispatch(alice.command("forget")))
    # "No"'s signature on "Yes"'s payload: a client that edits the id it sends back.
    return choices["Yes, delete everything"], choices["No, keep it"].replace(":0:", ":1:")


async def _forget_untouched(dc: DiscordHarness, alice: Person) -> None:
    assert await _exists(dc, alice)


async def _forget_works(dc: DiscordHarness, alice: Person, custom_id: str) -> None:
    done = dc.last(await dc.dispatch(alice.press(custom_id)))
    assert (done.content or "").startswith("Done: everything about you is deleted")
    assert not await _exists(dc, alice)


async def _consent_make(dc: DiscordHarness, alice: Person) -> tuple[str, str]:
    choices = _labelled(dc, await dc.dispatch(_swap(alice)))
    parts = choices["No"].split(":")
    parts[3] = "1"  # tc:user:version:yes:question:sig
    return choices["I agree"], ":".join(parts)


async def _consent_untouched(dc: DiscordHarness, alice: Person) -> None:
    await dc.idle()
    assert (await alice.user()).terms_accepted_at is None
    assert await jobs_of(dc, alice) == []


async def _consent_works(dc: DiscordHarness, alice: Person, custom_id: str) -> None:
    pressed = await dc.dispatch(alice.press(custom_id))
    await dc.idle()
    assert dc.said(pressed)[0] == dc.services.texts.text("consent_agreed_swapping", "en")
    assert [(job.kind, job.status) for job in await jobs_of(dc, alice)] == [("swap", "succeeded")]


async def _resend_make(dc: DiscordHarness, alice: Person) -> tuple[str, str]:
    await dc.dispatch(_swap(alice))
    await dc.idle()
    (custom_id,) = _labelled(dc, await dc.dispatch(alice.command("history"))).values()
    job = custom_id.split(":")[2]  # rs:kind:hash:sig
    other = job[:-1] + ("0" if job[-1] != "0" else "1")
    return custom_id, custom_id.replace(job, other)


async def _resend_untouched(dc: DiscordHarness, alice: Person) -> None:
    assert len(dc.followups()) == 1  # the result, never sent again


async def _resend_works(dc: DiscordHarness, alice: Person, custom_id: str) -> None:
    pressed = await dc.dispatch(alice.press(custom_id))
    assert dc.said(pressed)[-1] == "Sent again."
    assert len(dc.followups()) == 2


CASES = {
    "forget": Case(_forget_make, _forget_untouched, _forget_works),
    "consent": Case(_consent_make, _consent_untouched, _consent_works, agreed=False),
    "resend": Case(_resend_make, _resend_untouched, _resend_works),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_forged_altered_and_foreign_presses_are_refused_and_the_proper_one_works(
    dc: DiscordHarness, name: str
) -> None:
    case = CASES[name]
    alice, bob = dc.person(agreed=case.agreed), dc.person("bob")
    custom_id, altered = await case.make(dc, alice)
    payload = _payload(custom_id)
    presses = {
        "another key": (
            alice,
            _resigned(custom_id, sign(b"not-the-bot-key-0123456789abcdef", alice.id, payload)),
        ),
        "signed for bob": (alice, _resigned(custom_id, sign(SECRET, bob.id, payload))),
        "a made-up signature": (alice, _resigned(custom_id, "AAAAAAAAAAA")),
        "altered": (alice, altered),
        "bob's press": (bob, custom_id),
    }
    for what, (who, pressed) in presses.items():
        answer = dc.last(await dc.dispatch(who.press(pressed)))
        assert (answer.content, answer.ephemeral) == (NOT_YOURS, True), what
        await case.untouched(dc, alice)
    await case.works(dc, alice, custom_id)


async def test_a_stale_forget_button_is_refused(dc: DiscordHarness) -> None:
    alice, bob = dc.person(), dc.person("bob")
    choices = _labelled(dc, await dc.dispatch(alice.command("forget")))
    # Signed for alice's identity, naming bob's user: not hers, whatever the signature says.
    await dc.dispatch(bob.command("balance"))
    invented = ForgetButton.signed(SECRET, alice.id, user_id=(await bob.user()).id, yes=True).custom_id
    assert dc.last(await dc.dispatch(alice.press(invented))).content == NOT_YOURS
    assert await _exists(dc, alice) and await _exists(dc, bob)
    # Her own, from before a /forget: her identity has a new user since, and the old one is gone.
    yes = choices["Yes, delete everything"]
    before = (await alice.user()).id
    await dc.dispatch(alice.press(yes))
    assert not await _exists(dc, alice)
    assert dc.last(await dc.dispatch(alice.press(yes))).content == "There is nothing left to delete."
    assert (await alice.user()).id != before  # the new user, left as it is


async def test_a_stale_consent_button_is_refused(dc: DiscordHarness) -> None:
    alice, bob = dc.person(agreed=False), dc.person("bob", agreed=False)
    agree = _labelled(dc, await dc.dispatch(_swap(alice)))["I agree"]
    await dc.dispatch(bob.command("balance"))
    # Signed for alice's identity, naming bob's user and the question alice was asked.
    _, _, version, _, question, _ = agree.split(":")
    values: dict[str, Any] = {
        "user_id": (await bob.user()).id,
        "version": version,
        "yes": True,
        "question_id": question,
    }
    invented = ConsentButton.signed(SECRET, alice.id, **values).custom_id
    assert dc.last(await dc.dispatch(alice.press(invented))).content == NOT_YOURS
    await dc.idle()
    assert (await alice.user()).terms_accepted_at is None and (await bob.user()).terms_accepted_at is None
    assert await jobs_of(dc, alice) == [] and await jobs_of(dc, bob) == []

    # Alice's own, from before a /forget: her identity is a new user now, who agreed to nothing.
    forget = _labelled(dc, await dc.dispatch(alice.command("forget")))["Yes, delete everything"]
    await dc.dispatch(alice.press(forget))
    assert dc.last(await dc.dispatch(alice.press(agree))).content == NOT_YOURS
    await dc.idle()
    assert (await alice.user()).terms_accepted_at is None and await jobs_of(dc, alice) == []


def test_custom_ids_keep_the_form_of_buttons_already_posted() -> None:
    """Byte for byte what the buttons wrote before the base, signature included; each parses back."""
    uid = 10**18 + 7
    job = "ab" * 32 + ".3"
    made = {
        f"sp:{job}:12:0": SwapPickButton.signed(SECRET, uid, job=job, face=12, n=0),
        f"fp:{job}:4": SavePickButton.signed(SECRET, uid, job=job, n=4),
        "fg:42:1": ForgetButton.signed(SECRET, uid, user_id=42, yes=True),
        "buy:50": BuyButton.signed(SECRET, uid, credits=50),
        f"rs:swap:{job}": ResendButton.signed(SECRET, uid, job_id=f"swap:{job}"),
        "tc:42:2024-06:0:Ab_d-fGh": ConsentButton.signed(
            SECRET, uid, user_id=42, version="2024-06", yes=False, question_id="Ab_d-fGh"
        ),
        "rp:9:ban": ReportButton.signed(SECRET, uid, report_id=9, action="ban"),
    }
    for payload, button in made.items():
        assert button.custom_id == f"{payload}:{sign(SECRET, uid, payload)}"
        match = button.template.fullmatch(button.custom_id)
        assert match is not None and match["sig"] == button.signature
    assert [b.item.style.name for b in made.values()] == [
        "primary", "primary", "danger", "success", "secondary", "secondary", "danger",
    ]  # fmt: skip
