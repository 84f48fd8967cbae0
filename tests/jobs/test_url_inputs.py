"""URL inputs are fetched only from the attachment hosts, over https, at public addresses; a redirect
is followed only when its target passes the same checks. A refused URL fails the job for good, and the
credits come back.

DNS is the one thing faked here (``StaticDns``, an aiohttp resolver answering from a table): it lets a
name resolve to 127.0.0.1, where a fake Discord really listens, so a refusal is proven by the fake never
seeing the request, not by a connection that would have failed anyway.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.texts import Catalogue
from db import ledger
from db.session import Database
from jobs.config import DISCORD_ATTACHMENT_HOSTS, DiscordConfig, UrlPolicy
from jobs.errors import InputRefused, InputTooLarge
from jobs.fetch import MAX_REDIRECTS, InputFetcher
from jobs.notify.discord import DiscordNotifier
from jobs.platforms.discord import set_api_base
from jobs.request import InputRef
from jobs.url_guard import is_public
from tests.fakes.discord_server import FakeDiscord
from tests.jobs.discord_runs import run_discord_swap

DATA = bytes(range(256)) * 40  # 10 KB
CDN = "cdn.discordapp.com"


class StaticDns(AbstractResolver):
    """Answers names from a table, as a DNS server would (the guard must not trust the name)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.table[host]
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


def _path(url: str) -> str:
    """``/attachments/<id>/<name>`` of a fake's attachment URL."""
    return url.split("/", 3)[3]


async def _refused(fetcher: InputFetcher, url: str) -> InputRefused:
    try:
        with pytest.raises(InputRefused) as refused:
            await fetcher.fetch(InputRef.discord(url, 1))
    finally:
        await fetcher.close()
    assert (refused.value.code, refused.value.transient) == ("input_refused", False)
    return refused.value


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("162.159.129.233", True),  # one of Discord's CDN addresses
        ("2606:4700::6810:84e5", True),
        ("127.0.0.1", False),
        ("10.20.30.40", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::1", False),  # 6to4 around 127.0.0.1
        ("ff02::1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_host_not_in_the_list_is_refused_before_any_request(discord: FakeDiscord) -> None:
    url, _ = discord.add_attachment(DATA)
    fetcher = InputFetcher(url_policy=UrlPolicy(frozenset({CDN}), allow_private=True))
    assert "not an attachment host" in (await _refused(fetcher, url)).detail
    assert discord.calls == []


async def test_plain_http_and_private_addresses_need_the_test_switch(discord: FakeDiscord) -> None:
    url, _ = discord.add_attachment(DATA)
    listed = frozenset({"127.0.0.1", "10.0.0.8", "169.254.169.254"})
    strict = UrlPolicy(listed, allow_private=False)
    await _refused(InputFetcher(url_policy=strict), url)  # http
    for host in sorted(listed):  # https, on the list, but the address itself is not public
        refused = await _refused(InputFetcher(url_policy=strict), f"https://{host}/{_path(url)}")
        assert "not public" in refused.detail
    await _refused(InputFetcher(url_policy=strict), f"https://user:pw@{CDN}/{_path(url)}")
    assert discord.calls == []
    fetcher = InputFetcher(url_policy=UrlPolicy(listed, allow_private=True))
    try:
        assert await fetcher.fetch(InputRef.discord(url, 1)) == DATA
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["10.1.2.3"], ["169.254.169.254"], ["162.159.129.233", "127.0.0.1"], ["::1"]],
)
async def test_a_listed_name_resolving_to_a_private_address_is_refused(
    discord: FakeDiscord, addresses: list[str]
) -> None:
    """The fake listens on 127.0.0.1: had the name been connected to, it would have answered."""
    url, _ = discord.add_attachment(DATA)
    dns = StaticDns({CDN: addresses})
    policy = UrlPolicy(frozenset({CDN}))
    fetcher = InputFetcher(url_policy=policy, resolver=dns)
    refused = await _refused(fetcher, f"https://{CDN}:{discord.server.port}/{_path(url)}")
    assert "not public" in refused.detail and dns.asked == [CDN]
    assert discord.calls == []


async def test_the_resolved_address_is_the_one_connected_to(discord: FakeDiscord) -> None:
    """With the switch on, the same name is fetched through the address the resolver gave."""
    url, _ = discord.add_attachment(DATA)
    dns = StaticDns({CDN: ["127.0.0.1"]})
    fetcher = InputFetcher(url_policy=UrlPolicy(frozenset({CDN}), allow_private=True), resolver=dns)
    try:
        assert (
            await fetcher.fetch(InputRef.discord(f"http://{CDN}:{discord.server.port}/{_path(url)}", 1))
            == DATA
        )
    finally:
        await fetcher.close()
    assert dns.asked == [CDN] and discord.calls == ["attachment"]


async def test_redirects_are_followed_only_to_allowed_targets(discord: FakeDiscord) -> None:
    policy = discord.url_policy()  # 127.0.0.1 only
    url, _ = discord.add_attachment(DATA)
    fetcher = InputFetcher(url_policy=policy)
    try:
        # to the same host: followed, and a relative Location too
        assert await fetcher.fetch(InputRef.discord(discord.add_redirect(url), 1)) == DATA
        assert await fetcher.fetch(InputRef.discord(discord.add_redirect("/" + _path(url)), 1)) == DATA
        assert discord.calls == ["redirect", "attachment", "redirect", "attachment"]
    finally:
        await fetcher.close()
    discord.calls.clear()
    # to another host (the same server under another name): refused without going there
    elsewhere = f"http://localhost:{discord.server.port}/{_path(url)}"
    refused = await _refused(InputFetcher(url_policy=policy), discord.add_redirect(elsewhere))
    assert "localhost" in refused.detail
    assert discord.calls == ["redirect"]
    # to the metadata service: the host list already stops it
    await _refused(InputFetcher(url_policy=policy), discord.add_redirect("http://169.254.169.254/latest"))


async def test_a_redirect_chain_longer_than_the_cap_is_refused(discord: FakeDiscord) -> None:
    url, _ = discord.add_attachment(DATA)
    chain = url
    for _ in range(MAX_REDIRECTS):
        chain = discord.add_redirect(chain)
    fetcher = InputFetcher(url_policy=discord.url_policy())
    try:
        assert await fetcher.fetch(InputRef.discord(chain, 1)) == DATA  # exactly the cap: fine
    finally:
        await fetcher.close()
    discord.calls.clear()
    refused = await _refused(InputFetcher(url_policy=discord.url_policy()), discord.add_redirect(chain))
    assert "redirects" in refused.detail
    assert "attachment" not in discord.calls and len(discord.calls) == MAX_REDIRECTS + 1


async def test_too_large_by_header_or_by_what_arrives(discord: FakeDiscord) -> None:
    fetcher = InputFetcher(max_bytes=len(DATA), url_policy=discord.url_policy())
    try:
        for streamed in (False, True):
            url, _ = discord.add_attachment(DATA + b"!", streamed=streamed)
            with pytest.raises(InputTooLarge):
                await fetcher.fetch(InputRef.discord(url, 1))
            fits, _ = discord.add_attachment(DATA, streamed=streamed)
            assert await fetcher.fetch(InputRef.discord(fits, 1)) == DATA
    finally:
        await fetcher.close()


def test_the_settings_map_onto_the_policy() -> None:
    from swapbot.settings import Settings
    from swapbot.wiring import worker_config

    default = worker_config(Settings(_env_file=None))  # type: ignore[call-arg]
    assert default.urls == UrlPolicy(frozenset(DISCORD_ATTACHMENT_HOSTS), allow_private=False)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DISCORD_ATTACHMENT_HOSTS=" CDN.example.org , media.example.org.",
        SWAPBOT_ALLOW_PRIVATE_FETCH="true",
    )
    assert worker_config(settings).urls == UrlPolicy(
        frozenset({"cdn.example.org", "media.example.org"}), allow_private=True
    )


async def test_a_refused_input_fails_the_job_for_good_and_refunds(
    sqlite: Database, discord: FakeDiscord
) -> None:
    """The whole path: the job is not retried, the credit comes back, the person reads why."""
    set_api_base(discord.api_url)
    notifier = DiscordNotifier(DiscordConfig(discord.token, discord.api_url))
    fetcher = InputFetcher(url_policy=UrlPolicy(frozenset({CDN}), allow_private=True))
    try:
        job = await run_discord_swap(sqlite, discord, notifier, fetcher)
    finally:
        await notifier.close()
    assert (job.status, job.error_code, job.attempts) == ("failed", "input_refused", 1)
    async with sqlite.session() as session:
        assert await ledger.find(session, f"job:{job.id}") is not None  # charged, then
        assert await ledger.find(session, f"refund:{job.id}") is not None  # refunded
        assert await ledger.balance(session, job.user_id) == 2
    assert "attachment" not in discord.calls
    told = [text for _, text in discord.edits] + [p.content or "" for p in discord.posted]
    assert any(Catalogue().text("input_refused") in text for text in told), told
