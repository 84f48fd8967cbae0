"""Signed buttons: one base for every persistent button the Discord bot posts.

A custom id is written by the client, not by us (docs: "Never trust what a client sends back"), so each
one is ``prefix:field:...:signature``, the signature an HMAC (bot/signing.py) of ``prefix:field:...``
for the Discord user the button was shown to. ``SignedButton`` owns all of it: the payload and the
template parsed back from it, signing, and a press, always in the same order:

1. the signature is checked against ``interaction.user.id`` (a forged, altered or foreign press);
2. the presser is admitted (``context.enter``: their user, a ban, the rate limit);
3. a press that fails 1 is answered ``refusal`` (``not_your_button``), ephemeral, and changes nothing;
4. a button that names its owner (an ``owner`` field: our user id) pressed by an identity whose user is
   another now (a button from before a /forget) is ``stale``: answered likewise;
5. ``allowed`` (a subclass's extra rule: admins only) or the answer ``refusal``;
6. ``on_press(interaction, me)``: what the button does.

Any failure on the way is answered by ``errors.on_error``, as a command's is. A button says only what
it does::

    class BuyButton(SignedButton, prefix="buy", fields=(Field.number("credits", 9),)):
        credits: int
        style = discord.ButtonStyle.success

        async def on_press(self, interaction, me): ...

    BuyButton.signed(secret, interaction.user.id, label="10 credits", credits=10)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import discord

from bot.discord.context import Asker, enter, reply, services_of
from bot.discord.errors import on_error
from bot.discord.signing import SIGNATURE, sign, verify

LABEL_MAX = 80  # Discord's limit on a button's label
NEVER = r"(?!)"  # the base's own template: it matches no custom id (only subclasses are dispatched)


@dataclass(frozen=True)
class Field:
    """One part of a custom id: the attribute ``name`` (and the template's group), the ``pattern`` it
    must match, how it is read back (``parse``) and written (``write``). ``owner``: the value is our
    user id of the person the button was made for."""

    name: str
    pattern: str
    parse: Callable[[str], Any] = str
    write: Callable[[Any], str] = str
    owner: bool = False

    @staticmethod
    def number(name: str, digits: int | None = None, *, owner: bool = False) -> Field:
        """A non-negative integer (at most ``digits`` digits)."""
        pattern = r"\d+" if digits is None else rf"\d{{1,{digits}}}"
        return Field(name, pattern, int, str, owner)

    @staticmethod
    def flag(name: str) -> Field:
        """A yes/no, written ``1``/``0``."""
        return Field(name, "[01]", lambda text: text == "1", lambda value: str(int(bool(value))))

    @staticmethod
    def text(name: str, pattern: str) -> Field:
        """A string matching ``pattern`` (which must not reach into the ``:`` after it)."""
        return Field(name, pattern)

    @staticmethod
    def owner_id(name: str = "user_id") -> Field:
        """Our user id of the person the button was made for: a press by anyone else is refused."""
        return Field.number(name, 19, owner=True)


class SignedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=NEVER):
    """A persistent button whose custom id is ``prefix:fields...:signature``; see the module's text."""

    prefix: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]] = ()
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    refusal: ClassVar[str] = "not_your_button"  # the catalogue code a refused press is answered with

    def __init_subclass__(cls, *, prefix: str, fields: Sequence[Field] = (), **kwargs: Any) -> None:
        names = [field.name for field in fields]
        if len(set(names)) != len(names) or "sig" in names:
            raise TypeError(f"{cls.__name__}: field names must be unique and not 'sig'")
        cls.prefix, cls.fields = prefix, tuple(fields)
        groups = [re.escape(prefix), *(f"(?P<{f.name}>{f.pattern})" for f in cls.fields), SIGNATURE]
        super().__init_subclass__(template=re.compile(":".join(groups)), **kwargs)

    def __init__(self, signature: str, /, *, label: str = "…", **values: Any) -> None:
        missing = {field.name for field in self.fields} ^ set(values)
        if missing:
            raise TypeError(f"{type(self).__name__}: fields {sorted(missing)} missing or unknown")
        for name, value in values.items():
            setattr(self, name, value)
        self.signature = signature
        custom_id = f"{self.payload}:{signature}"
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label[:LABEL_MAX], custom_id=custom_id, style=self.button_style()
        )
        super().__init__(button)

    @classmethod
    def signed(cls, secret: bytes, discord_user_id: int, /, *, label: str = "…", **values: Any) -> Self:
        """The button for Discord user ``discord_user_id``, its id signed with ``secret``."""
        payload = cls.payload_of(values)
        return cls(sign(secret, discord_user_id, payload), label=label, **values)

    @classmethod
    def payload_of(cls, values: dict[str, Any]) -> str:
        """``prefix:field:...``, what the signature covers."""
        return ":".join([cls.prefix, *(field.write(values[field.name]) for field in cls.fields)])

    @property
    def payload(self) -> str:
        return self.payload_of({field.name: getattr(self, field.name) for field in self.fields})

    def button_style(self) -> discord.ButtonStyle:
        """The button's colour: ``style``, or what a subclass makes of its fields."""
        return self.style

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["sig"], **{field.name: field.parse(match[field.name]) for field in cls.fields})

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self._press(interaction)
        except Exception as exc:
            await on_error(interaction, exc)

    async def _press(self, interaction: discord.Interaction[Any]) -> None:
        secret = services_of(interaction).config.secret_key
        signed = verify(secret, interaction.user.id, self.payload, self.signature)
        me = await enter(interaction)
        if not signed:
            await reply(interaction, me.t(self.refusal))
            return
        mine = all(getattr(self, f.name) == me.user.id for f in self.fields if f.owner)
        if not mine:
            await reply(interaction, me.t(await self.stale(interaction, me)))
            return
        if not await self.allowed(interaction, me):
            await reply(interaction, me.t(self.refusal))
            return
        await self.on_press(interaction, me)

    async def stale(self, interaction: discord.Interaction[Any], me: Asker) -> str:
        """The answer's code for a press signed for this identity but naming another of our users (one
        from before a /forget): ``refusal`` unless a subclass knows better."""
        return self.refusal

    async def allowed(self, interaction: discord.Interaction[Any], me: Asker) -> bool:
        """A subclass's own rule, after the signature and the owner (True: press)."""
        return True

    async def on_press(self, interaction: discord.Interaction[Any], me: Asker) -> None:
        """What the button does, for the admitted presser ``me`` it was made for."""
        raise NotImplementedError
