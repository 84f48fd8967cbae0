"""The command line end to end on real photos: outputs written, bad input is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from swapbot.cli import app, parse_faces
from tests.conftest import encode

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, hanks, group_photo) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, image in {"astronaut": astronaut, "hanks": hanks, "group": group_photo}.items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(encode(image, ".png"))
    paths["text"] = folder / "notes.jpg"  # a JPEG by name only: we go by the bytes
    paths["text"].write_text("definitely not a picture")
    paths["truncated"] = folder / "truncated.png"
    paths["truncated"].write_bytes(encode(astronaut, ".png")[:5000])
    paths["landscape"] = folder / "landscape.png"
    paths["landscape"].write_bytes(encode(np.full((200, 300, 3), (40, 160, 90), np.uint8), ".png"))
    return paths


def test_parse_faces():
    assert parse_faces("all") is None
    assert parse_faces("1, 3") == [1, 3]
    with pytest.raises(ValueError):
        parse_faces("one")


def face_boxes(output: str) -> dict[int, tuple[int, int, int, int]]:
    """``swapbot faces`` lines ``2: box=(x1,y1,x2,y2) score=...`` by face number."""
    boxes = {}
    for line in output.splitlines():
        number, sep, rest = line.partition(": box=(")
        if sep:
            x1, y1, x2, y2 = (int(v) for v in rest.split(")")[0].split(","))
            boxes[int(number)] = (x1, y1, x2, y2)
    return boxes


def test_swap_changes_only_the_chosen_face(photos, tmp_path, group_photo):
    listed = runner.invoke(app, ["faces", str(photos["group"])])
    assert listed.exit_code == 0, listed.output
    x1, y1, x2, y2 = face_boxes(listed.output)[2]
    out = tmp_path / "result.png"  # lossless: every pixel outside the face can be compared exactly
    result = runner.invoke(
        app, ["swap", str(photos["astronaut"]), str(photos["group"]), "-o", str(out), "--faces", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "swapped 1 face(s)" in result.output
    image = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert image.shape == group_photo.shape
    # The blend may reach a little past the detector's box (chin, cheeks): allow a quarter of its size.
    margin_x, margin_y = (x2 - x1) // 4, (y2 - y1) // 4
    region = (slice(max(0, y1 - margin_y), y2 + margin_y), slice(max(0, x1 - margin_x), x2 + margin_x))
    outside = np.ones(group_photo.shape[:2], bool)
    outside[region] = False
    assert np.array_equal(image[outside], group_photo[outside])  # the five other faces and the rest
    face = (slice(y1, y2), slice(x1, x2))
    changed = np.abs(image[face].astype(int) - group_photo[face]).max(axis=2) > 8
    assert changed.mean() > 0.3, changed.mean()


def test_swap_writes_a_full_size_jpeg(photos, tmp_path, group_photo):
    out = tmp_path / "result.jpg"
    result = runner.invoke(
        app, ["swap", str(photos["astronaut"]), str(photos["group"]), "-o", str(out), "--faces", "1"]
    )
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == group_photo.shape
    assert cv2.PSNR(image, group_photo) > 30  # quality 95, one face changed


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux peak-RSS reset")
def test_a_huge_file_is_refused_before_it_is_read(photos, tmp_path):
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:
        file.truncate(1_600_000_000)  # sparse: no disk used; reading it would take 1.6 GB of memory
    Path("/proc/self/clear_refs").write_text("5")  # restart this process's peak-RSS mark from here
    before = _status_bytes("VmRSS")
    result = runner.invoke(app, ["swap", str(photos["astronaut"]), str(huge), "-o", str(tmp_path / "o.jpg")])
    assert _status_bytes("VmHWM") - before < 100_000_000
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "huge.jpg" in errors[0] and "20 MB" in errors[0], result.output


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(f"{field}:"))


def test_faces_lists_six_faces_and_writes_preview(photos, tmp_path):
    out = tmp_path / "preview.jpg"
    result = runner.invoke(app, ["faces", str(photos["group"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    listed = [line for line in result.output.splitlines() if line[:2] in {f"{n}:" for n in range(1, 10)}]
    assert len(listed) == 6
    assert out.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["swap", "{text}", "{group}"], "notes.jpg: this is a text file, not a picture"),
        (["swap", "{truncated}", "{group}"], "truncated.png: the image file is incomplete"),
        (["swap", "{landscape}", "{group}"], "could not find a face in the photo of the face to use"),
        (["swap", "{astronaut}", "{group}", "--faces", "9"], "there is no face 9: the photo has 6 face(s)"),
        (["swap", "{astronaut}", "{missing}"], "cannot read"),
        (["swap", "{astronaut}", "{group}", "--engine", "onnx"], "swapbot models fetch"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(photos, tmp_path, args, expected):
    names = {**{k: str(v) for k, v in photos.items()}, "missing": str(tmp_path / "nope.png")}
    argv = [a.format(**names) for a in args] + ["-o", str(tmp_path / "out.jpg")]
    result = runner.invoke(app, argv, env={"SWAPBOT_MODELS_DIR": str(tmp_path / "no-models")})
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0].lower(), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jpg").exists()


def test_caricature_local_styles_change_only_the_face_region(photos, tmp_path, astronaut):
    out = tmp_path / "warp.png"
    result = runner.invoke(app, ["caricature", str(photos["astronaut"]), "-o", str(out), "--style", "warp"])
    assert result.exit_code == 0, result.output
    warped = cv2.imread(str(out))
    assert warped.shape == astronaut.shape
    assert not np.array_equal(warped, astronaut)
    assert np.array_equal(warped[:40, :40], astronaut[:40, :40])  # the corner never moves


def test_caricature_openai_goes_through_the_real_client(photos, tmp_path, astronaut):
    from tests.fakes.openai_server import FakeOpenAI

    out = tmp_path / "openai.png"
    with FakeOpenAI() as fake:
        env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url}
        result = runner.invoke(
            app,
            [
                "caricature",
                str(photos["astronaut"]),
                "-o",
                str(out),
                "--style",
                "openai",
                "--prompt",
                "a friendly caricature",
            ],
            env=env,
        )
        assert result.exit_code == 0, result.output
        assert len(fake.requests) == 1
    # The fake answers with the picture mirrored: the round trip kept every pixel.
    assert np.array_equal(cv2.imread(str(out)), cv2.flip(astronaut, 1))


def test_caricature_remote_style_without_key_is_a_clear_error(photos, tmp_path):
    result = runner.invoke(
        app,
        ["caricature", str(photos["astronaut"]), "-o", str(tmp_path / "x.jpg"), "--style", "replicate"],
        env={"REPLICATE_API_TOKEN": "", "REPLICATE_MODEL": ""},
    )
    assert result.exit_code == 2
    assert "The replicate style is not set up" in result.output  # the catalogue's stylizer_unavailable


def test_run_without_a_token_swaps_the_demo_photos(tmp_path, group_photo):
    out = tmp_path / "demo.jpg"
    result = runner.invoke(
        app, ["run", "-o", str(out)], env={"TELEGRAM_BOT_TOKEN": "", "DISCORD_BOT_TOKEN": ""}
    )
    assert result.exit_code == 0, result.output
    assert "swapped 6 face(s)" in result.output
    image = cv2.imdecode(np.frombuffer(out.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == group_photo.shape
    assert np.abs(image.astype(int) - group_photo.astype(int)).mean() > 1.0


def test_worker_config_maps_the_settings(tmp_path):
    from swapbot.settings import Settings
    from swapbot.wiring import worker_config

    settings = Settings(
        REDIS_URL="redis://localhost:6379/5",
        TELEGRAM_BOT_TOKEN="123:abc",
        SWAPBOT_ENGINE="onnx",
        SWAPBOT_PROVIDERS="tensorrt,cpu",
        SWAPBOT_JOB_TIMEOUT="30",
        SWAPBOT_RETENTION_HOURS="6",
        SWAPBOT_LOST_AFTER="15",
        SWAPBOT_SWEEP_INTERVAL="5",
        SWAPBOT_QUEUED_MAX_AGE="900",
    )
    config = worker_config(settings)
    assert config.queue.redis_url == "redis://localhost:6379/5"
    assert (config.queue.job_timeout_s, config.queue.retention_hours) == (30.0, 6.0)
    queue = config.queue
    assert (queue.lost_after_s, queue.sweep_interval_s, queue.queued_max_age_s) == (15.0, 5.0, 900.0)
    assert config.engine.name == "onnx" and config.engine.providers == ("tensorrt", "cpu")
    assert config.telegram is not None and config.telegram.token == "123:abc"
    assert config.discord is None


def test_worker_without_redis_is_a_clear_error():
    result = runner.invoke(app, ["worker"], env={"REDIS_URL": ""})
    assert result.exit_code == 2
    assert "REDIS_URL" in result.output


def test_worker_check_says_no_worker_on_an_empty_queue():
    env = {"REDIS_URL": "redis://localhost:6379/13"}  # no worker ever wrote a health key there
    result = runner.invoke(app, ["worker", "--check"], env=env)
    assert result.exit_code == 1, result.output
    assert "no worker" in result.output
