"""The one command line: ``swapbot <command>``, the commands only. Builds Settings once, hands their
secrets to the log redactor, and passes them down: swapbot/wiring.py maps them onto each layer's
config, swapbot/runners.py and swapbot/web.py run the bots."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.choices import CARICATURE_STYLES, DEFAULT_RESTORER, ENGINES, RESTORERS
from engine.errors import EngineError
from swapbot.settings import Settings

if TYPE_CHECKING:
    from swapbot.logging import Redactor

app = typer.Typer(no_args_is_help=True, add_completion=False, help="swapbot: face swap and caricature bot.")
models_app = typer.Typer(
    no_args_is_help=True, help="Model files: list what is present, fetch what is missing."
)
app.add_typer(models_app, name="models")
db_app = typer.Typer(no_args_is_help=True, help="The database schema (Alembic migrations) at DATABASE_URL.")
app.add_typer(db_app, name="db")
# Option help lists the engine's own choices.
_ENGINES, _RESTORERS, _STYLES = (" or ".join(names) for names in (ENGINES, RESTORERS, CARICATURE_STYLES))


class Progress:
    """Stage lines on stderr with elapsed time, so anything slower than a second shows life."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:5.1f}s] {stage}…", file=sys.stderr, flush=True)


class InputRejected(Exception):
    """An engine error about one input file: the CLI reads two, so its error line names the file."""

    def __init__(self, path: Path, error: EngineError) -> None:
        super().__init__(f"{path}: {error}")
        self.path = path
        self.error = error


def _sentence(exc: EngineError) -> str:
    """The error as the English catalogue says it to people (``str(exc)`` is the log line)."""
    from bot.texts import Catalogue

    return Catalogue().text(exc.code, None, **exc.params)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except InputRejected as exc:
        typer.echo(f"error: {exc.path}: {_sentence(exc.error)}", err=True)
        raise typer.Exit(2) from None
    except EngineError as exc:
        typer.echo(f"error: {_sentence(exc)}", err=True)
        raise typer.Exit(2) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        typer.echo(f"error: cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except (OSError, SQLAlchemyError) as exc:  # a database or service that does not answer
        typer.echo(
            f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r}", err=True
        )
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@dataclass
class Invocation:
    """What the command line builds once per command: the settings, and the log redaction in force."""

    settings: Settings
    logs: Redactor

    def serving(self) -> Settings:
        """For a command that serves (a bot, the web process, a worker): the secrets it makes rather
        than reads (a generated key, the webhook secret derived from it) are hidden from its logs
        before it opens anything. Raises ``SecretKeyError`` where the key cannot be had."""
        from swapbot.wiring import derived_secrets

        self.logs.add(derived_secrets(self.settings))
        return self.settings


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj.settings


def _serving(ctx: typer.Context) -> Settings:
    return ctx.obj.serving()


@app.callback()
def main_callback(ctx: typer.Context) -> None:
    from pydantic import ValidationError

    from swapbot.logging import configure_logging
    from swapbot.settings import error_lines

    if ctx.invoked_subcommand == "doctor":  # it loads them itself: malformed values are rows of its table
        return
    try:
        settings = Settings()
    except ValidationError as exc:  # one line per malformed variable, with an example of a good value
        for line in error_lines(exc):
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2) from None
    logs = configure_logging(settings.log_level, settings.log_json, settings.secret_values())
    ctx.obj = Invocation(settings, logs)


def _read_image(path: Path):
    from engine.errors import ImageRejected
    from engine.imageio import read_image_file

    try:
        return read_image_file(path)  # the size is checked before the file is read
    except ImageRejected as exc:  # say which of the files it was
        raise InputRejected(path, exc) from None


def _write_image(path: Path, image) -> None:
    from engine.imageio import encode_jpeg, encode_png

    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode_png(image) if path.suffix.lower() == ".png" else encode_jpeg(image)
    path.write_bytes(data)


def parse_faces(value: str) -> list[int] | None:
    """``all`` -> None; ``1,3`` -> [1, 3]."""
    if value.strip().lower() == "all":
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--faces takes numbers like 1,3 or 'all', not {value!r}") from None
    if not numbers:
        raise ValueError("--faces needs at least one face number")
    return numbers


def _engines(settings: Settings, name: str | None = None):
    from engine.factory import EngineBundle
    from swapbot.wiring import engine_spec

    return EngineBundle(engine_spec(settings, name))


@app.command()
def swap(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="photo with the face to use")],
    target: Annotated[Path, typer.Argument(help="photo whose faces are replaced")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the result")],
    faces: Annotated[str, typer.Option(help="target faces to swap: 1,3 or all")] = "all",
    source_face: Annotated[int, typer.Option(help="which face of the source photo (1-based)")] = 1,
    engine: Annotated[str | None, typer.Option(help=f"{_ENGINES} (default: SWAPBOT_ENGINE)")] = None,
    enhance: Annotated[bool, typer.Option(help="restore faces with GFPGAN afterwards")] = False,
    restorer: Annotated[str, typer.Option(help=f"{_RESTORERS}, with --enhance")] = DEFAULT_RESTORER,
) -> None:
    """Put the face from SOURCE into faces of TARGET."""
    from engine import pipeline

    settings = _settings(ctx)
    progress = Progress()
    with cli_errors():
        numbers = parse_faces(faces)
        src_image, dst_image = _read_image(source), _read_image(target)
        progress(f"loading the {engine or settings.engine} engine")
        engines = _engines(settings, engine)
        face_engine = engines.engine
        face_restorer = engines.restorer(restorer) if enhance else None
        identity = pipeline.source_identity(face_engine, src_image, source_face, stage=progress)
        result, swapped = pipeline.swap(
            face_engine, identity, dst_image, numbers, face_restorer, stage=progress
        )
        progress("writing the result")
        _write_image(output, result)
    typer.echo(f"swapped {len(swapped)} face(s) -> {output}")


@app.command("faces")
def faces_command(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="photo to look for faces in")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write a numbered preview")] = None,
    engine: Annotated[str | None, typer.Option(help=f"{_ENGINES} (default: SWAPBOT_ENGINE)")] = None,
) -> None:
    """List the faces of IMAGE in reading order, optionally writing a numbered preview."""
    from engine.face import preview

    settings = _settings(ctx)
    progress = Progress()
    with cli_errors():
        picture = _read_image(image)
        progress("detecting faces")
        found = _engines(settings, engine).engine.detect(picture)
        for number, face in enumerate(found, start=1):
            x1, y1, x2, y2 = (round(v) for v in face.box)
            typer.echo(f"{number}: box=({x1},{y1},{x2},{y2}) score={face.score:.2f}")
        if not found:
            typer.echo("no faces found")
        if output is not None:
            _write_image(output, preview(picture, found))
            typer.echo(f"preview -> {output}")


@app.command()
def run(
    ctx: typer.Context, output: Annotated[Path, typer.Option("-o", "--output")] = Path("out/demo_swap.jpg")
) -> None:
    """With TELEGRAM_BOT_TOKEN: the Telegram bot and its jobs in this one process (the database
    migrated first; SQLite, the classic engine and no Redis by default), by long polling, or behind
    the webhook on SWAPBOT_WEB_HOST/PORT when TELEGRAM_WEBHOOK_URL is set. With DISCORD_BOT_TOKEN: the
    Discord bot the same way (beside the polling Telegram bot when both are set, sharing its jobs).
    Without: the demo swap, the astronaut's face onto all six faces of insightface's group photo t1.jpg
    (photos shipped by scikit-image and insightface), with the default engine, written to OUTPUT."""
    settings = _settings(ctx)
    if settings.telegram_bot_token and settings.telegram_webhook_url:  # webhook mode: the web process
        import asyncio

        from swapbot.web import serve

        with cli_errors():
            asyncio.run(serve(_serving(ctx), settings.web_host, settings.web_port, migrate=True))
        return
    if settings.telegram_bot_token or settings.discord_bot_token:
        from swapbot.runners import run_both, run_discord, run_telegram

        with cli_errors():
            settings = _serving(ctx)
            if settings.telegram_bot_token and settings.discord_bot_token:
                run_both(settings)
            elif settings.telegram_bot_token:
                run_telegram(settings, migrate=True)
            else:
                run_discord(settings, migrate=True)
        return
    from engine import pipeline
    from swapbot import demo

    progress = Progress()
    with cli_errors():
        source, target = demo.astronaut(), _read_image(demo.group_photo())
        progress(f"loading the {settings.engine} engine")
        face_engine = _engines(settings).engine
        identity = pipeline.source_identity(face_engine, source, stage=progress)
        result, swapped = pipeline.swap(face_engine, identity, target, stage=progress)
        _write_image(output, result)
    typer.echo(f"swapped {len(swapped)} face(s): astronaut -> t1.jpg, written to {output}")


@app.command()
def telegram(ctx: typer.Context) -> None:
    """Run the Telegram bot with long polling (jobs go to ARQ with REDIS_URL, else run in this process)."""
    settings = _settings(ctx)
    with cli_errors():
        if settings.telegram_webhook_url:
            raise ValueError("TELEGRAM_WEBHOOK_URL is set: the bot runs behind `swapbot web`, not by polling")
        from swapbot.runners import run_telegram

        run_telegram(_serving(ctx), migrate=False)


@app.command()
def web(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address to listen on [SWAPBOT_WEB_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on [SWAPBOT_WEB_PORT]")] = None,
) -> None:
    """The web process: /healthz, and the Telegram webhook at /telegram/webhook when
    TELEGRAM_WEBHOOK_URL is set."""
    import asyncio

    from swapbot.web import serve

    settings = _settings(ctx)
    with cli_errors():
        if settings.telegram_webhook_url and not settings.telegram_bot_token:
            raise ValueError("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not")
        if settings.telegram_webhook_url or settings.stripe_webhook_secret:  # the two that use the key
            settings = _serving(ctx)
        asyncio.run(serve(settings, host or settings.web_host, port or settings.web_port))


@app.command("discord")
def discord_bot(ctx: typer.Context) -> None:
    """Run the Discord bot over the gateway (jobs go to ARQ with REDIS_URL, else run in this process);
    its commands are synced at start (to DISCORD_DEV_GUILD_ID when set)."""
    from swapbot.runners import run_discord

    with cli_errors():
        run_discord(_serving(ctx), migrate=False)


@app.command("caricature")
def caricature_command(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="photo with one or more faces")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the result")],
    strength: Annotated[float, typer.Option(min=0.0, max=2.0, help="0 = none, 1 = clear caricature")] = 1.0,
    style: Annotated[str, typer.Option(help=_STYLES)] = "both",
    prompt: Annotated[str | None, typer.Option(help="prompt for the remote styles")] = None,
) -> None:
    """Draw a caricature of the faces in IMAGE."""
    from engine import pipeline

    settings = _settings(ctx)
    progress = Progress()
    with cli_errors():
        picture = _read_image(image)
        engines = _engines(settings)
        stylizer = engines.stylizer(style)
        landmarker = engines.landmarker()  # 68 landmarks drive the warp
        result = pipeline.caricature(landmarker, picture, style, strength, stylizer, prompt, stage=progress)
        _write_image(output, result)
    typer.echo(f"caricature ({style}) -> {output}")


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    verify: Annotated[bool, typer.Option(help="hash present files (slow for large files)")] = False,
) -> None:
    """Which model files are present, where, and under which licence."""
    from engine.models.fetch import status
    from engine.models.registry import path_of

    settings = _settings(ctx)
    for entry in status(settings.models_dir, verify=verify):
        model = entry.spec
        state = "present" if entry.present else "missing"
        if entry.verified is not None:
            state += ", verified" if entry.verified else ", CHECKSUM MISMATCH"
        origin = "bundled" if model.bundled else f"{model.file_size / 1e6:.0f} MB"
        typer.echo(f"{model.name:40} {state:28} {origin:>8}  {path_of(model, settings.models_dir)}")
        typer.echo(f"{'':40} licence: {model.licence}")


@models_app.command("fetch")
def models_fetch(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="models to fetch (default: all)")] = None,
) -> None:
    """Download pinned model files into SWAPBOT_MODELS_DIR, verifying each SHA-256."""
    from tqdm import tqdm

    from engine.models.fetch import fetch
    from engine.models.registry import MODELS, spec

    settings = _settings(ctx)
    with cli_errors():
        try:
            chosen = (
                [spec(name) for name in names] if names else [m for m in MODELS.values() if not m.bundled]
            )
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        for model in chosen:
            with tqdm(
                total=model.size or None, unit="B", unit_scale=True, desc=model.name, leave=True
            ) as bar:

                def progress(done: int, total: int, bar=bar) -> None:
                    bar.total = total or bar.total
                    bar.update(done - bar.n)

                path = fetch(model, settings.models_dir, progress=progress)
            typer.echo(f"{model.name}: {path}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database at DATABASE_URL up to REVISION (default: the newest)."""
    from db.migrate import upgrade
    from swapbot.secret_key import key_file

    settings = _settings(ctx)
    with cli_errors():
        # A generated key is born with its SQLite database, beside the file. Migrations never use the
        # key, so with Postgres it is left to the commands that do (the bots, the web process).
        if key_file(settings.database_url) is not None:
            settings.resolved_secret_key  # noqa: B018
        upgrade(settings.database_url, revision)
    typer.echo(f"database upgraded to {revision}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument()] = "base") -> None:
    """Migrate the database at DATABASE_URL down to REVISION (default: empty)."""
    from db.migrate import downgrade

    settings = _settings(ctx)
    with cli_errors():
        downgrade(settings.database_url, revision)
    typer.echo(f"database downgraded to {revision}")


@app.command()
def worker(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="exit 0 if a worker is alive, 1 if not")] = False,
) -> None:
    """Run a queue worker (ARQ on REDIS_URL): loads the engine once, runs jobs, delivers results."""
    import asyncio

    from jobs.worker import check_health, run_worker
    from swapbot.wiring import result_markups, worker_config

    settings = _settings(ctx)
    with cli_errors():
        if not settings.redis_url:
            raise ValueError("swapbot worker needs REDIS_URL; without it jobs run inside the bot process")
        config = worker_config(settings)
        if check:
            alive = asyncio.run(check_health(config.queue))
            typer.echo("a worker is alive" if alive else "no worker has reported within the health interval")
            raise typer.Exit(0 if alive else 1)
        from bot.texts import Catalogue

        texts = Catalogue()
        run_worker(config, texts=texts, markups=result_markups(settings, texts))


@app.command("doctor")
def doctor_command(
    only: Annotated[
        str | None,
        typer.Option(
            help="checks to run, comma-separated: settings,database,redis,models,providers,"
            "telegram,discord,stripe,webhooks (default: all)"
        ),
    ] = None,
    verify: Annotated[bool, typer.Option(help="hash the model files (slow for the ONNX ones)")] = True,
    require_gpu: Annotated[
        bool, typer.Option(help="fail unless the first GPU provider in SWAPBOT_PROVIDERS really runs")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds for each network call")] = 5.0,
) -> None:
    """Check the settings, database, Redis, model files, onnxruntime providers, bot tokens, Stripe and
    webhook URLs; print what to fix; exit 1 when something needed is missing or broken."""
    from swapbot.doctor import doctor
    from swapbot.findings import Options

    with cli_errors():
        table, healthy = doctor(only, Options(verify=verify, require_gpu=require_gpu, timeout_s=timeout))
    typer.echo(table)
    raise typer.Exit(0 if healthy else 1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
