"""uv.lock, the exact set every install path gets (setup.sh, make run/test, the Dockerfiles), against
pyproject.toml's ranges: the lock is current, every range stops below a major we have not tested, the
lock names only PyPI files, and the cpu, gpu and dev paths resolve apart. uv itself comes from
scripts/uv.sh (the one on PATH, else installed from PyPI), as in the test command."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK = tomllib.loads((REPO / "uv.lock").read_text())


def uv(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "uv.sh"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    for lines in project["optional-dependencies"].values():
        found += [Requirement(line) for line in lines]
    return found


def locked() -> dict[str, list[dict[str, Any]]]:
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in LOCK["package"]:
        packages.setdefault(canonicalize_name(package["name"]), []).append(package)
    return packages


def exported(*extras: str) -> dict[str, str]:
    """The pinned set one install path gets (`uv export`, from the lock alone): name -> version."""
    flags = [flag for extra in extras for flag in ("--extra", extra)]
    result = uv("export", "--frozen", "--no-hashes", "--no-header", "--no-emit-project", *flags)
    assert result.returncode == 0, result.stderr
    pins = [line.split(";")[0].strip() for line in result.stdout.splitlines() if "==" in line]
    return {canonicalize_name(pin.split("==")[0]): pin.split("==")[1] for pin in pins}


def test_the_lock_is_current():
    result = uv("lock", "--check")
    assert result.returncode == 0, f"uv.lock is stale: run `make lock`\n{result.stderr}"


def test_the_check_fails_when_pyproject_and_the_lock_disagree(tmp_path):
    for name in ("pyproject.toml", "uv.lock", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tmp_path / name)
    assert uv("lock", "--check", cwd=tmp_path).returncode == 0  # the copy alone is current
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    tqdm = next(line for line in PYPROJECT["project"]["dependencies"] if line.startswith("tqdm"))
    pyproject.write_text(text.replace(f'  "{tqdm}",\n', ""))  # a dependency dropped from pyproject
    result = uv("lock", "--check", cwd=tmp_path)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr


def test_every_range_stops_below_an_untested_major_and_holds_the_locked_versions():
    packages = locked()
    for requirement in requirements():
        uppers = [spec for spec in requirement.specifier if spec.operator == "<"]
        assert uppers, f"{requirement}: no upper bound on the major"
        versions = [Version(package["version"]) for package in packages[canonicalize_name(requirement.name)]]
        assert all(requirement.specifier.contains(version) for version in versions), (requirement, versions)
        # No further than the next major after what the lock holds (0.x ranges may stop at a minor).
        next_major = Version(str(max(versions).major + 1))
        assert min(Version(spec.version) for spec in uppers) <= next_major, (
            f"{requirement}: its range admits a major after the locked {max(versions)} that no test ran"
        )


def test_the_lock_names_only_pypi_files_and_no_torch():
    packages = locked()
    assert "torch" not in packages and "torchvision" not in packages
    for package in LOCK["package"]:
        source = package["source"]
        if package["name"] == "swapbot":
            assert source == {"editable": "."}
            continue
        assert source == {"registry": "https://pypi.org/simple"}, package["name"]
        files = [package["sdist"]] if "sdist" in package else []
        files += package.get("wheels", [])
        assert files and all(f["url"].startswith("https://files.pythonhosted.org/") for f in files)
        assert all(f["hash"].startswith("sha256:") for f in files), package["name"]


def test_the_cpu_gpu_and_dev_paths_resolve_apart():
    cpu, gpu, dev, base = exported("cpu"), exported("gpu"), exported("dev"), exported()
    assert "onnxruntime" in cpu and "onnxruntime-gpu" not in cpu
    assert "onnxruntime-gpu" in gpu and "onnxruntime" not in gpu
    assert "onnxruntime" in dev and {"pytest", "build", "mypy"} <= set(dev)
    assert not {"onnxruntime", "onnxruntime-gpu", "pytest"} & set(base)
    # The shared dependencies are the same versions on every path.
    assert all(cpu[name] == gpu[name] == dev[name] == version for name, version in base.items())


@pytest.mark.parametrize("extras", [("cpu", "gpu"), ("dev", "gpu")])
def test_onnxruntime_and_its_gpu_build_cannot_be_asked_for_together(extras):
    flags = [flag for extra in extras for flag in ("--extra", extra)]
    result = uv("export", "--frozen", "--no-hashes", *flags)
    assert result.returncode != 0
    assert "incompatible" in result.stderr
