"""``swapbot doctor --only models`` says whether the content guard is on: on with the model file,
"guard off" (a warning: workers still run) without it, off by policy, and a file with the wrong bytes
fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swapbot.cli import app
from tests.ops.conftest import clean_env  # noqa: F401  (fixture)

runner = CliRunner()


def guard_row(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[int, list[str]]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = runner.invoke(app, ["doctor", "--only", "models"])
    lines = [line.strip() for line in result.output.splitlines() if "guard" in line or "nudenet" in line]
    return result.exit_code, lines


def test_doctor_says_whether_the_guard_is_on(
    clean_env: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    guard_models: Path,
) -> None:
    env = {"SWAPBOT_MODELS_DIR": str(guard_models), "SWAPBOT_NSFW_THRESHOLD": "0.6"}
    code, lines = guard_row(monkeypatch, env)
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith("ok") and "content guard on (nudenet, blocks at 0.6)" in lines[0]

    empty = clean_env / "models"
    empty.mkdir()
    code, lines = guard_row(monkeypatch, {"SWAPBOT_MODELS_DIR": str(empty)})
    assert code == 0 and len(lines) == 1  # a warning: the worker runs, unguarded
    assert lines[0].startswith("warn") and "guard off" in lines[0]
    assert "swapbot models fetch nudenet" in lines[0]

    code, lines = guard_row(monkeypatch, {"SWAPBOT_NSFW_POLICY": "off"})
    assert len(lines) == 1 and lines[0].startswith("ok") and "SWAPBOT_NSFW_POLICY=off" in lines[0]

    (empty / "nudenet_320n.onnx").write_bytes(b"not the detector")
    code, lines = guard_row(monkeypatch, {"SWAPBOT_MODELS_DIR": str(empty), "SWAPBOT_NSFW_POLICY": "block"})
    assert code == 1 and lines[0].startswith("FAIL") and "nudenet has the wrong checksum or size" in lines[0]
