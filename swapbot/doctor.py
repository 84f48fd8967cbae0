"""``swapbot doctor``: is this installation ready to serve, and if not, what to fix.

Each check looks at one part (settings, database, Redis, model files, onnxruntime providers, the bot
tokens, Stripe, webhook URLs) and returns findings: ok, warn (works, but not as intended), FAIL
(something needed is missing or broken: the exit code says so) or skip (not configured, not needed).
``--only`` runs a subset, which is what the compose health checks call. Nothing here writes: the
database is not migrated, no key file is generated, no model is fetched. The checks are in
swapbot/doctor_checks.py, their findings' types in swapbot/findings.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError

from swapbot.doctor_checks import CHECKS
from swapbot.findings import Finding, Loaded, Options, Status
from swapbot.settings import Settings, error_lines


def load_settings() -> Loaded:
    try:
        return Loaded(Settings(), ())
    except ValidationError as exc:
        lines = tuple(error_lines(exc))
        bad = _bad_fields(exc)
    # Init arguments win over the environment: the malformed ones fall back to their defaults.
    defaults = {name: Settings.model_fields[name].default for name in bad}
    try:
        return Loaded(Settings(**defaults), lines)
    except ValidationError as exc:  # only a cross-field rule would get here: report both rounds
        return Loaded(Settings.model_construct(), lines + tuple(error_lines(exc)))


def _bad_fields(exc: ValidationError) -> set[str]:
    by_alias = {field.alias: name for name, field in Settings.model_fields.items()}
    names = set()
    for item in exc.errors(include_url=False):
        if item["loc"]:
            key = str(item["loc"][0])
            names.add(by_alias.get(key, key))
    return {name for name in names if name in Settings.model_fields}


def parse_only(value: str | None) -> tuple[str, ...]:
    """``--only database,redis`` -> the names, in the order given; ValueError for an unknown one."""
    known = tuple(CHECKS)
    if not value:
        return known
    names = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ValueError(f"--only takes some of {','.join(known)}, not {value!r}")
    return names


async def run_checks(loaded: Loaded, names: Sequence[str], options: Options) -> list[Finding]:
    """Run the named checks one after another; a check that crashes is a failure, not a traceback."""
    checks = CHECKS
    findings: list[Finding] = []
    for name in names:
        try:
            findings += await checks[name](loaded, options)
        except Exception as exc:
            findings.append(
                Finding(Status.FAIL, name, f"the check itself failed: {type(exc).__name__}: {exc}")
            )
    return findings


def failed(findings: Sequence[Finding]) -> bool:
    return any(finding.status is Status.FAIL for finding in findings)


def render(findings: Sequence[Finding]) -> str:
    """A plain-text table: status, check, what was found, and what to do about it."""
    rows = [("status", "check", "found", "what to do")]
    rows += [(f.status.value, f.check, f.detail, f.fix) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + (f"  {row[3]}" if row[3] else "")
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths) + "  " + "-" * len(rows[0][3]))
    problems = sum(f.status is Status.FAIL for f in findings)
    warnings = sum(f.status is Status.WARN for f in findings)
    lines.append("")
    lines.append(
        f"{problems} problem(s) to fix, {warnings} warning(s)" if problems or warnings else "all good"
    )
    return "\n".join(line.rstrip() for line in lines)


def doctor(only: str | None = None, options: Options | None = None) -> tuple[str, bool]:
    """The table and whether everything needed is there (the command's exit code)."""
    names = parse_only(only)
    loaded = load_settings()
    findings = asyncio.run(run_checks(loaded, names, options or Options()))
    return render(findings), not failed(findings)
