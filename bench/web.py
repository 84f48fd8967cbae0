"""Signed Stripe webhook events per second through the real ``swapbot web`` app, on Postgres.

Each event is a ``checkout.session.completed`` for a new paid session, signed the way Stripe signs
(HMAC-SHA256 of ``<t>.<body>``), with our HMAC-signed metadata: the app verifies it with
``stripe.Webhook.construct_event``, claims the event id, records the payment and credits the buyer in
one transaction. "Redelivered" posts events already handled (the claim finds them and stops). The
reference, in the same run and process, is a bare aiohttp handler doing only ``construct_event``: the
gap between the two is our work plus Postgres. The client (aiohttp, ``--concurrency`` posts in flight)
runs in the same process for both, so the ratio compares like with like. Creates its own database and
drops it at the end. Prints medians over rounds.

    .venv/bin/python -m bench.web [--server postgresql://postgres@localhost:5432] [--seconds 2]
        [--rounds 5] [--concurrency 10] [--quick]

``--quick`` (run by ``make test``): one round of 0.3 s per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import secrets
import socket
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import asyncpg
import stripe
from aiohttp import web

from bench.quiet import quiet_logs
from bot.flows.payments import sign_payload
from db.migrate import upgrade_engine
from db.session import Database
from db.users import get_or_create
from swapbot.settings import Settings
from swapbot.web import open_web

WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)
SECRET_KEY = secrets.token_hex(32)
USERS = 50
_ids = itertools.count(1)

Payload = Callable[[], str]


def _signed(body: str) -> dict[str, str]:
    ts = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


def _paid_session(user_id: int) -> str:
    n = next(_ids)
    session = {
        "id": f"cs_bench_{n}",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 199,
        "currency": "usd",
        "client_reference_id": str(user_id),
        "payment_intent": f"pi_bench_{n}",
        "metadata": {
            "user_id": str(user_id),
            "credits": "10",
            "platform": "telegram",
            "payload": sign_payload(SECRET_KEY.encode(), 10, user_id),
        },
    }
    event = {
        "id": f"evt_bench_{n}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": session},
    }
    return json.dumps(event)


async def _users(db: Database) -> list[int]:
    async with db.transaction() as session:
        return [(await get_or_create(session, "telegram", secrets.token_hex(8)))[0].id for _ in range(USERS)]


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/stripe/webhook"
    finally:
        await runner.cleanup()


def _reference_app() -> web.Application:
    """Only the signature check and the event's construction, as the library does them."""

    async def handle(request: web.Request) -> web.Response:
        try:
            stripe.Webhook.construct_event(
                await request.read(), request.headers.get("Stripe-Signature"), WEBHOOK_SECRET
            )
        except stripe.SignatureVerificationError:
            return web.json_response({"error": "signature"}, status=400)
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/stripe/webhook", handle)
    return app


async def _round(
    http: aiohttp.ClientSession, url: str, payload: Payload, concurrency: int, seconds: float
) -> tuple[float, float, float]:
    """Events per second, the median latency (ms) and this process's CPU ms per event (server and client
    together)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def poster() -> None:
        while (start := time.perf_counter()) < deadline:
            body = payload()
            async with http.post(url, data=body, headers=_signed(body)) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"the webhook answered {response.status}")
            latencies.append(time.perf_counter() - start)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(poster() for _ in range(concurrency)))
    cpu_ms = (time.process_time() - cpu) * 1000 / len(latencies)
    return len(latencies) / (time.perf_counter() - began), statistics.median(latencies) * 1000, cpu_ms


async def _scenario(
    http: aiohttp.ClientSession, url: str, payload: Payload, concurrency: int, seconds: float, rounds: int
) -> list[float]:
    await _round(http, url, payload, concurrency, min(seconds, 0.3))  # warm the pools and the caches
    results = [await _round(http, url, payload, concurrency, seconds) for _ in range(rounds)]
    return [statistics.median(column) for column in zip(*results, strict=True)]


def _print(label: str, row: list[float], ref_rate: float) -> None:
    rate, latency, cpu = row
    print(f"{label:<26}{rate:>10.0f}{latency:>9.2f}{cpu:>8.2f}{ref_rate:>15.0f}{rate / ref_rate:>7.2f}")


async def main(server: str, seconds: float, rounds: int, concurrency: int) -> None:
    name = f"swapbot_bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{server.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    try:
        db = Database(url)
        try:
            await upgrade_engine(db.engine)
            user_ids = await _users(db)
        finally:
            await db.dispose()
        settings = Settings(
            DATABASE_URL=url,
            SWAPBOT_SECRET_KEY=SECRET_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            _env_file=None,
        )
        buyers = itertools.cycle(user_ids)
        handled: list[str] = []

        def fresh() -> str:
            body = _paid_session(next(buyers))
            handled.append(body)
            return body

        version = await admin.fetchval("SHOW server_version")
        print(
            f"Postgres {version}, {os.cpu_count()} CPUs; {concurrency} posts in flight; "
            f"{rounds} rounds of {seconds:g} s; medians"
        )
        print(f"{'scenario':<26}{'events/s':>10}{'p50 ms':>9}{'CPU ms':>8}{'verify only/s':>15}{'ratio':>7}")
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            async with _serving(_reference_app()) as reference:
                ref_rate, _, _ = await _scenario(http, reference, fresh, concurrency, seconds, rounds)
            handled.clear()
            async with open_web(settings) as app, _serving(app) as webhook:
                row = await _scenario(http, webhook, fresh, concurrency, seconds, rounds)
                _print("new paid sessions", row, ref_rate)
                replays = itertools.cycle(list(handled))  # every one credited above: each is a replay
                row = await _scenario(http, webhook, lambda: next(replays), concurrency, seconds, rounds)
                _print("redelivered events", row, ref_rate)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@localhost:5432")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="one round of 0.3 s per scenario")
    args = parser.parse_args()
    quiet_logs()
    if args.quick:
        args.seconds, args.rounds = 0.3, 1
    asyncio.run(main(args.server, args.seconds, args.rounds, args.concurrency))
