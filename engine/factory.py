"""The one place engines are built: ``EngineSpec`` (what the settings choose) and ``EngineBundle``,
which holds the swap engine and builds the rest on first use: the landmarker caricatures need,
restorers by name and remote stylizers by style. The command line and the workers both use it.

Heavy imports (dlib, onnxruntime, the services' clients) happen only for what is built, so importing
this module, or a spec, costs nothing.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.choices import (
    CARICATURE_STYLES,
    DEFAULT_PROVIDERS,
    DETECTORS,
    ENGINES,
    PROVIDERS,
    REMOTE_STYLES,
    RESTORERS,
    Detector,
    EngineName,
    check_choice,
)
from engine.errors import StylizerUnavailable
from engine.safety.settings import GuardSpec

if TYPE_CHECKING:
    from engine.base import FaceEngine, FaceRestorer
    from engine.safety.guard import Guard
    from engine.stylize.base import Stylizer


@dataclass(frozen=True, slots=True)
class StylizerSpec:
    """The remote caricature services; a style whose service has no key is ``StylizerUnavailable``."""

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    replicate_api_token: str | None = None
    replicate_base_url: str | None = None
    replicate_model: str | None = None
    timeout: float = 120.0  # seconds for a whole stylize call, retries included


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """Which engine, where its models are, how it runs; checked here, so a bad value fails at start-up."""

    name: EngineName = "classic"
    models_dir: Path = Path("models")
    providers: tuple[str, ...] = DEFAULT_PROVIDERS  # onnxruntime's, in order of preference
    detector: Detector = "hog"  # the classic engine's, the landmarker's included
    stylizers: StylizerSpec = field(default_factory=StylizerSpec)
    guard: GuardSpec = field(default_factory=GuardSpec)  # the content guard (engine.safety)

    def __post_init__(self) -> None:
        check_choice("the engine", self.name, ENGINES)
        check_choice("the detector", self.detector, DETECTORS)
        for provider in self.providers:
            check_choice("each provider", provider, tuple(PROVIDERS))
        object.__setattr__(self, "providers", tuple(self.providers))  # a list from settings is fine too


def build_engine(spec: EngineSpec) -> FaceEngine:
    """The swap engine of ``spec``; its models load as the backend decides (classic: now)."""
    if spec.name == "onnx":
        from engine.onnx.backend import OnnxEngine

        return OnnxEngine(spec.models_dir, spec.providers)
    from engine.classic.backend import ClassicEngine

    return ClassicEngine(detector=spec.detector)


def build_restorer(spec: EngineSpec, name: str) -> FaceRestorer:
    check_choice("the restorer", name, RESTORERS)
    from engine.onnx.restore import CodeFormerRestorer, GfpganRestorer

    restorer = GfpganRestorer if name == "gfpgan" else CodeFormerRestorer
    return restorer(spec.models_dir, spec.providers)


def build_stylizer(spec: StylizerSpec, style: str) -> Stylizer:
    """The stylizer of a remote caricature ``style``; ``StylizerUnavailable`` when its service has no key."""
    check_choice("a remote caricature style", style, REMOTE_STYLES)
    if style == "openai":
        if not spec.openai_api_key:
            raise StylizerUnavailable(style, "the openai style needs OPENAI_API_KEY")
        from engine.stylize.openai_images import DEFAULT_MODEL, OpenAIStylizer

        return OpenAIStylizer(
            api_key=spec.openai_api_key,
            base_url=spec.openai_base_url,
            model=spec.openai_model or DEFAULT_MODEL,
            timeout=spec.timeout,
        )
    if not (spec.replicate_api_token and spec.replicate_model):
        raise StylizerUnavailable(style, "the replicate style needs REPLICATE_API_TOKEN and REPLICATE_MODEL")
    from engine.stylize.replicate_model import ReplicateStylizer

    return ReplicateStylizer(
        api_token=spec.replicate_api_token,
        model=spec.replicate_model,
        base_url=spec.replicate_base_url,
        timeout=spec.timeout,
    )


class EngineBundle:
    """The engine of one spec and what a process builds beside it, each once, on first use.

    ``engine``: given (a worker loads it at start-up; tests inject their own) or built when first
    asked for. Thread-safe: engine threads share one bundle. A build that fails (a missing model
    file, a style without its key) is not kept, so it fails only the jobs that ask for it.
    """

    def __init__(self, spec: EngineSpec, engine: FaceEngine | None = None) -> None:
        self.spec = spec
        self._engine = engine
        self._landmarker: FaceEngine | None = None
        self._restorers: dict[str, FaceRestorer] = {}
        self._stylizers: dict[str, Stylizer] = {}
        self._guard: Guard | None = None
        self._lock = threading.RLock()

    @property
    def engine(self) -> FaceEngine:
        with self._lock:
            if self._engine is None:
                self._engine = build_engine(self.spec)
            return self._engine

    def guard(self) -> Guard:
        """The content guard, loaded on first use (a worker asks at start-up, to log its state)."""
        with self._lock:
            if self._guard is None:
                from engine.safety.guard import load_guard

                self._guard = load_guard(self.spec.guard, self.spec.models_dir, self.spec.providers)
            return self._guard

    def landmarker(self) -> FaceEngine:
        """An engine whose faces have 68 landmarks (caricatures): the swap engine when it gives them,
        else a classic one with the spec's detector."""
        with self._lock:
            if self._landmarker is None:
                engine = self.engine
                self._landmarker = (
                    engine
                    if engine.gives_landmarks
                    else build_engine(dataclasses.replace(self.spec, name="classic"))
                )
            return self._landmarker

    def restorer(self, name: str) -> FaceRestorer:
        with self._lock:
            if name not in self._restorers:
                self._restorers[name] = build_restorer(self.spec, name)
            return self._restorers[name]

    def stylizer(self, style: str) -> Stylizer | None:
        """The remote stylizer of ``style``; None for the local styles, ``StylizerUnavailable`` for a
        remote one that is not set up here."""
        if style not in REMOTE_STYLES:
            check_choice("the caricature style", style, CARICATURE_STYLES)
            return None
        with self._lock:
            if style not in self._stylizers:
                self._stylizers[style] = build_stylizer(self.spec.stylizers, style)
            return self._stylizers[style]
