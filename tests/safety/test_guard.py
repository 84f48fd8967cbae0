"""The guard on the real NudeNet model: our pre- and post-processing against the nudenet package's
own, real photos passing, a drawing refused, the policy, the threshold and the NSFW-channel rule."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.factory import EngineBundle, EngineSpec
from engine.safety.guard import EXPLICIT, ContentBlocked, Guard, load_guard
from engine.safety.nudenet import NudeNet
from engine.safety.settings import GuardSpec
from swapbot.settings import Settings
from swapbot.wiring import engine_spec
from tests.safety.conftest import nudenet_file
from tests.safety.drawing import body_drawing

CPU = ("cpu",)


@pytest.fixture(scope="module")
def guard(guard_models: Path) -> Guard:
    return load_guard(GuardSpec(), guard_models, CPU)


def test_detections_match_the_nudenet_package(real_photos: dict[str, np.ndarray]) -> None:
    """The package is the reference for pre-processing (pad, resize, channel order) and decoding."""
    from nudenet import NudeDetector

    reference = NudeDetector(model_path=str(nudenet_file()))
    ours = NudeNet(nudenet_file(), CPU)
    portrait = cv2.resize(body_drawing(), (480, 700))  # padding on the right, not the bottom
    for name, image in {**real_photos, "drawing": body_drawing(), "portrait": portrait}.items():
        expected = reference.detect(image)
        found = ours.detect(image)
        assert expected, name  # faces at least: an empty match proves nothing
        assert [d.label for d in found] == [d["class"] for d in expected], name
        assert [d.box for d in found] == [tuple(d["box"]) for d in expected], name
        assert [d.score for d in found] == pytest.approx([d["score"] for d in expected], abs=1e-5), name


def test_real_photos_pass(guard: Guard, real_photos: dict[str, np.ndarray]) -> None:
    assert guard.active and guard.state.startswith("on")
    for name, image in real_photos.items():
        scores = guard.scores(image)
        assert set(scores) == set(EXPLICIT)
        assert max(scores.values()) < 0.1, (name, scores)
        guard.check(image, "input")  # does not raise


def test_the_drawing_is_refused_at_any_size(guard: Guard) -> None:
    """The real model flags the synthetic drawing (0.84); no threshold is lowered here."""
    drawing = body_drawing()
    twelve_mp = cv2.resize(drawing, (4000, 3000), interpolation=cv2.INTER_CUBIC)  # letterboxed
    for image in (drawing, twelve_mp):
        with pytest.raises(ContentBlocked) as refused:
            guard.check(image, "result")
        assert refused.value.code == "content_blocked" and refused.value.permanent
        assert refused.value.params == {"stage": "result"}
        assert "FEMALE_BREAST_EXPOSED" in str(refused.value)
    assert guard.scores(drawing)["FEMALE_BREAST_EXPOSED"] > 0.7
    # without the dots the same shapes pass: the model reacts to the drawing, not to skin tones
    guard.check(body_drawing(nipples=False), "input")


def test_threshold_is_the_line(guard_models: Path) -> None:
    score = load_guard(GuardSpec(), guard_models, CPU).scores(body_drawing())["FEMALE_BREAST_EXPOSED"]
    above = load_guard(GuardSpec(threshold=min(1.0, score + 0.01)), guard_models, CPU)
    above.check(body_drawing(), "input")
    at = load_guard(GuardSpec(threshold=score), guard_models, CPU)
    with pytest.raises(ContentBlocked):
        at.check(body_drawing(), "input")


def test_nsfw_channels_rule(guard_models: Path) -> None:
    allow = load_guard(GuardSpec(nsfw_channels="allow"), guard_models, CPU)
    allow.check(body_drawing(), "input", nsfw_channel=True)
    with pytest.raises(ContentBlocked):
        allow.check(body_drawing(), "input", nsfw_channel=False)
    block = load_guard(GuardSpec(nsfw_channels="block"), guard_models, CPU)
    with pytest.raises(ContentBlocked):
        block.check(body_drawing(), "input", nsfw_channel=True)


def test_off_by_policy_and_without_the_model(guard_models: Path, tmp_path: Path) -> None:
    off = load_guard(GuardSpec(policy="off"), guard_models, CPU)
    assert not off.active and "SWAPBOT_NSFW_POLICY=off" in off.state
    off.check(body_drawing(), "input")
    missing = load_guard(GuardSpec(), tmp_path, CPU)
    assert not missing.active
    assert "model file missing" in missing.state and "swapbot models fetch nudenet" in missing.state
    missing.check(body_drawing(), "input")
    assert max(missing.scores(body_drawing()).values()) == 0.0


def test_settings_reach_the_guard(monkeypatch: pytest.MonkeyPatch, guard_models: Path) -> None:
    monkeypatch.setenv("SWAPBOT_NSFW_THRESHOLD", "0.8")
    monkeypatch.setenv("SWAPBOT_DISCORD_NSFW_CHANNELS", "allow")
    monkeypatch.setenv("SWAPBOT_MODELS_DIR", str(guard_models))
    spec = engine_spec(Settings(_env_file=None))  # type: ignore[call-arg]
    assert spec.guard == GuardSpec(policy="block", threshold=0.8, nsfw_channels="allow")
    bundle = EngineBundle(spec)
    assert bundle.guard() is bundle.guard() and bundle.guard().active
    assert EngineSpec().guard == GuardSpec(policy="block", threshold=0.5, nsfw_channels="block")
    for bad in ({"policy": "lenient"}, {"threshold": 0.0}, {"threshold": 1.5}, {"nsfw_channels": "yes"}):
        with pytest.raises(ValueError):
            GuardSpec(**bad)  # type: ignore[arg-type]
    monkeypatch.setenv("SWAPBOT_NSFW_POLICY", "lenient")
    with pytest.raises(ValueError):
        Settings(_env_file=None)  # type: ignore[call-arg]
