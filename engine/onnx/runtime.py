"""onnxruntime sessions: provider selection from settings, one session per model file, reused."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from engine.choices import PROVIDERS, check_choice

_sessions: dict[tuple[str, tuple[str, ...]], ort.InferenceSession] = {}
_lock = threading.Lock()


def resolve_providers(names: Sequence[str], available: Sequence[str] | None = None) -> list[str]:
    """Map short names (``cuda,cpu``) to onnxruntime providers this build has, in the order asked.

    Providers the installed onnxruntime lacks are skipped (a CPU wheel has no CUDA); CPU is always
    the last resort so a worker without a GPU still runs.
    """
    have = set(ort.get_available_providers() if available is None else available)
    chosen: list[str] = []
    for name in names:
        key = name.strip().lower()
        check_choice("provider", key, tuple(PROVIDERS))
        provider = PROVIDERS[key]
        if provider in have and provider not in chosen:
            chosen.append(provider)
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


def get_session(path: Path, providers: Sequence[str]) -> ort.InferenceSession:
    """The one session for ``path`` and these providers; created on first use, then shared."""
    resolved = tuple(resolve_providers(providers))
    key = (str(Path(path).resolve()), resolved)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(path), sess_options=options, providers=list(resolved))
            _sessions[key] = session
        return session
