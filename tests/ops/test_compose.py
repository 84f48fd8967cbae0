"""The deployment files, checked without Docker: docker-compose.yml, the Dockerfiles, .env.example,
the Prometheus config and the Grafana dashboard.

Commands are checked against the real command line (typer's click tree: the subcommand exists and
its options parse), variables against the real Settings, routes against the real web app.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from swapbot.cli import app
from swapbot.doctor import parse_only
from swapbot.settings import Settings
from tests.ops.conftest import ALIASES, REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILES = {"docker/Dockerfile": "swapbot-app:local", "docker/Dockerfile.worker": "swapbot-worker:local"}
# Variables compose itself reads from .env for ${...}, which are not swapbot settings.
COMPOSE_VARS = {
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "WEB_PUBLISHED_PORT",
    "GRAFANA_ADMIN_PASSWORD",
}
# The environment the third-party images document (postgres: POSTGRES_*, grafana: GF_*).
IMAGE_ENV_PREFIXES = {"postgres": ("POSTGRES_",), "grafana/grafana": ("GF_",)}
# Programs each third-party image ships: the official postgres image has pg_isready, redis has
# redis-cli, and Prometheus (busybox) and Grafana (Alpine) have busybox's wget.
IMAGE_PROGRAMS = {
    "postgres": {"pg_isready"},
    "redis": {"redis-cli"},
    "prom/prometheus": {"wget"},
    "grafana/grafana": {"wget"},
}
# The metric names the dashboard may use (issue 10's metrics, created by `swapbot web` and workers).
METRICS = {
    "swapbot_jobs_total",
    "swapbot_queue_depth",
    "swapbot_queue_wait_seconds",
    "swapbot_engine_stage_seconds",
    "swapbot_deliveries_total",
    "swapbot_delivery_retries_total",
    "swapbot_payments_total",
    "swapbot_credits_sold_total",
    "swapbot_platform_api_errors_total",
    "swapbot_worker_info",
}
HISTOGRAMS = {"swapbot_queue_wait_seconds", "swapbot_engine_stage_seconds"}


def ours(service: dict[str, Any]) -> bool:
    return service.get("image") in DOCKERFILES.values()


def image_name(service: dict[str, Any]) -> str:
    return service["image"].rsplit(":", 1)[0]


def check_swapbot_command(args: list[str]) -> Any:
    """The command ``swapbot ARGS`` names: each word a subcommand, then options its parser accepts.

    Typer carries its own copy of click, so groups are told by their ``commands`` mapping."""
    command: Any = typer.main.get_command(app)
    words = list(args)
    path: list[str] = []
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        word = words.pop(0)
        assert word in command.commands, f"`swapbot {' '.join([*path, word])}` is not a command"
        path.append(word)
        command = command.commands[word]
    assert not hasattr(command, "commands"), f"`swapbot {' '.join(path)}` needs a subcommand"
    context = command.make_context(" ".join(path), words)  # unknown options and bad values raise
    if path == ["doctor"] and context.params.get("only"):
        parse_only(context.params["only"])  # every check named exists
    return command


def test_the_command_check_refuses_what_swapbot_refuses():
    for args in (["discordx"], ["db"], ["doctor", "--no-verfy"], ["doctor", "--only", "database,nope"]):
        with pytest.raises(Exception):  # noqa: B017 (assertions, click usage errors, ValueError)
            check_swapbot_command(args)
    check_swapbot_command(["doctor", "--only", "database,redis", "--no-verify"])


def test_compose_parses_with_every_service_the_issue_names():
    assert {"postgres", "redis", "migrate", "models", "telegram", "discord", "web", "worker"} <= set(SERVICES)
    assert {"postgres-data", "models"} <= set(COMPOSE["volumes"])


@pytest.mark.parametrize("name", [name for name, service in SERVICES.items() if ours(service)])
def test_every_command_is_a_swapbot_command(name):
    service = SERVICES[name]
    assert isinstance(service["command"], list), "exec form: no shell between Docker and the signals"
    check_swapbot_command(service["command"])


def test_the_services_run_the_commands_they_are_named_for():
    commands = {name: service.get("command") for name, service in SERVICES.items() if ours(service)}
    assert commands["migrate"] == ["db", "upgrade"]
    assert commands["models"] == ["models", "fetch"]
    assert commands["telegram"] == ["telegram"]
    assert commands["discord"] == ["discord"]  # the Discord bot's command must exist (checked above)
    assert commands["web"] == ["web"]
    assert commands["worker"] == commands["worker-cpu"] == ["worker"]


def test_the_images_enter_through_swapbot():
    for path in DOCKERFILES:
        text = (REPO / path).read_text()
        assert 'ENTRYPOINT ["swapbot"]' in text, path


def healthcheck_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    if test[0] == "CMD":
        return list(test[1:])
    assert test[0] == "CMD-SHELL", test
    return shlex.split(test[1])


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_has_a_real_health_check_a_restart_policy_and_conditions(name):
    service = SERVICES[name]
    assert "restart" in service
    argv = healthcheck_argv(service)
    if argv[0] == "swapbot":
        assert ours(service)
        check_swapbot_command(argv[1:])
    elif argv[0] == "python":
        assert ours(service) and argv[1] == "-c"
        check_python_probe(service, argv[2])
    else:
        assert argv[0] in IMAGE_PROGRAMS[image_name(service)], f"{name}: {argv[0]} is not in its image"
    for dependency, how in service.get("depends_on", {}).items():
        assert dependency in SERVICES
        assert how["condition"] in ("service_healthy", "service_completed_successfully"), (name, dependency)


def check_python_probe(service: dict[str, Any], code: str) -> None:
    """A ``python -c`` probe compiles, and the URL it opens is a route of the web app on its port."""
    from db.session import Database
    from swapbot.web import web_app

    compile(code, "<healthcheck>", "exec")
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", code)
    assert url is not None, code
    assert url[1] == str(service["environment"]["SWAPBOT_WEB_PORT"])
    routes = {resource.canonical for resource in web_app(Database("sqlite+aiosqlite://")).router.resources()}
    assert url[2] in routes


def test_the_one_shots_come_first():
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("telegram", "discord", "web", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert SERVICES["worker"]["depends_on"]["models"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["restart"] == SERVICES["models"]["restart"] == "no"


def test_the_worker_reserves_a_gpu_and_scales():
    worker = SERVICES["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N must not collide
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.worker"
    assert worker["environment"]["SWAPBOT_ENGINE"] == "onnx"
    assert "--require-gpu" in healthcheck_argv(worker)


def test_the_cpu_profile_runs_the_classic_engine_without_a_gpu():
    cpu = [s for s in SERVICES.values() if "cpu" in s.get("profiles", []) and s.get("command") == ["worker"]]
    assert len(cpu) == 1
    assert cpu[0]["environment"]["SWAPBOT_ENGINE"] == "classic"
    assert "deploy" not in cpu[0]
    assert cpu[0]["build"]["dockerfile"] == "docker/Dockerfile"


def test_monitoring_is_optional():
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["monitoring"]


def test_settings_come_from_env_and_every_variable_passed_is_one_we_read():
    text = (REPO / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    assert interpolated <= set(ALIASES) | COMPOSE_VARS, interpolated - set(ALIASES) - COMPOSE_VARS
    for name, service in SERVICES.items():
        variables = set(service.get("environment", {}))
        if ours(service):
            assert service["env_file"] == ".env", name
            assert variables <= set(ALIASES), (name, variables - set(ALIASES))
        else:
            prefixes = IMAGE_ENV_PREFIXES.get(image_name(service), ())
            assert all(variable.startswith(prefixes) for variable in variables), (name, variables)


def env_example() -> dict[str, bool]:
    """Variable -> whether its line is active (not commented) in .env.example."""
    found: dict[str, bool] = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(# ?)?([A-Z][A-Z0-9_]*)=.*", line)
        if match:
            found[match[2]] = found.get(match[2], False) or not match[1]
    return found


def test_env_example_lists_every_setting_with_a_comment():
    listed = env_example()
    assert set(ALIASES) <= set(listed), sorted(set(ALIASES) - set(listed))
    assert set(listed) <= set(ALIASES) | COMPOSE_VARS, sorted(set(listed) - set(ALIASES) - COMPOSE_VARS)
    lines = (REPO / ".env.example").read_text().splitlines()
    for alias in ALIASES:  # the line above a variable (or the group of variables it opens) explains it
        index = next(i for i, line in enumerate(lines) if re.fullmatch(rf"(# ?)?{alias}=.*", line))
        above = index - 1
        while re.fullmatch(r"(# ?)?[A-Z][A-Z0-9_]*=.*", lines[above]):
            above -= 1
        assert lines[above].startswith("# ") and "=" not in lines[above].split()[1], alias


def test_env_example_loads_as_settings(tmp_path, monkeypatch):
    """Copied to .env as it is, the example is valid: empty tokens are unset, not malformed."""
    for alias in ALIASES:
        monkeypatch.delenv(alias, raising=False)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.secret_key is None and not settings.telegram_bot_token


def dockerfile_stages(path: str) -> tuple[list[str], str]:
    """The base image of each FROM (ARG defaults filled in), and the text after the last FROM."""
    text = (REPO / path).read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    images = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image)
        for image in re.findall(r"^FROM (\S+)", text, re.M)
    ]
    return images, text.rsplit("\nFROM ", 1)[1]


@pytest.mark.parametrize("path", list(DOCKERFILES))
def test_dockerfiles_are_multi_stage_pinned_and_not_root(path):
    images, last_stage = dockerfile_stages(path)
    assert len(images) >= 2, "multi-stage"
    for image in images:
        tag = image.partition(":")[2]
        assert tag and tag != "latest" and re.match(r"v?\d+\.\d+\.\d+", tag), image
    users = re.findall(r"^USER (\S+)", last_stage, re.M)
    assert users and users[-1] not in ("root", "0"), "the running stage drops root"
    assert "COPY --from=build" in last_stage


@pytest.mark.parametrize("path", list(DOCKERFILES))
def test_dockerfiles_bake_no_secrets_and_set_only_real_settings(path):
    text = (REPO / path).read_text()
    names = re.findall(r"^\s*(?:ENV|ARG)?\s*(\w+)=", text, re.M)
    assert not [n for n in names if re.search(r"TOKEN|SECRET|PASSWORD|_KEY", n)], names
    swapbot_env = {
        n for n in names if n.startswith(("SWAPBOT_", "DATABASE_", "REDIS_", "TELEGRAM_", "DISCORD_"))
    }
    assert swapbot_env <= set(ALIASES), swapbot_env - set(ALIASES)


def test_dockerfiles_install_the_extras_that_exist():
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    app_file, worker_file = ((REPO / path).read_text() for path in DOCKERFILES)
    # Both install from uv.lock (copied into the build), the app image the cpu extra, the worker the gpu one.
    for text, extra in ((app_file, "cpu"), (worker_file, "gpu")):
        syncs = [line for line in text.splitlines() if line.startswith("RUN uv sync ")]
        assert syncs and all("--frozen --no-dev" in line and f"--extra {extra}" in line for line in syncs)
        assert re.search(r"^COPY .*\buv\.lock\b", text, re.MULTILINE), extra
    assert "cpu" in extras and any("onnxruntime-gpu" in d for d in extras["gpu"])
    assert all(image.startswith("python:") for image in dockerfile_stages("docker/Dockerfile")[0])
    assert all(image.startswith("nvidia/cuda:") for image in dockerfile_stages("docker/Dockerfile.worker")[0])


def test_compose_images_are_pinned():
    for name, service in SERVICES.items():
        if not ours(service):
            tag = service["image"].partition(":")[2]
            # A release, not a moving major tag: Postgres names its releases major.minor (16.6).
            pattern = r"\d+\.\d+-" if image_name(service) == "postgres" else r"v?\d+\.\d+\.\d+"
            assert re.match(pattern, tag), (name, service["image"])


def dashboard_queries() -> list[str]:
    dashboard = json.loads((REPO / "docker/grafana/dashboards/swapbot.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_the_dashboard_names_only_our_metrics_and_shows_what_the_issue_asks():
    queries = dashboard_queries()
    named = set()
    for expr in queries:
        found = set(re.findall(r"\bswapbot_\w+", expr))
        assert found, expr
        for metric in found:
            base = re.sub(r"_(bucket|sum|count)$", "", metric) if metric not in METRICS else metric
            assert base in METRICS, metric
            assert metric == base or base in HISTOGRAMS, metric  # _bucket/_sum/_count of histograms only
            named.add(base)
    # queue depth and wait, jobs by outcome, engine stage times, deliveries, payments (issue 10)
    assert {
        "swapbot_queue_depth",
        "swapbot_queue_wait_seconds",
        "swapbot_jobs_total",
        "swapbot_engine_stage_seconds",
        "swapbot_deliveries_total",
        "swapbot_payments_total",
    } <= named
    assert any("histogram_quantile" in e and "swapbot_queue_wait_seconds_bucket" in e for e in queries)


def test_grafana_and_prometheus_are_wired_to_each_other():
    datasource = yaml.safe_load((REPO / "docker/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = json.loads((REPO / "docker/grafana/dashboards/swapbot.json").read_text())
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} == {uid}
    provider = yaml.safe_load((REPO / "docker/grafana/provisioning/dashboards/swapbot.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    mounts = SERVICES["grafana"]["volumes"]
    assert f"./docker/grafana/dashboards:{path}:ro" in mounts
    prometheus = yaml.safe_load((REPO / "docker/prometheus.yml").read_text())
    targets = {
        (name, sd["port"])
        for job in prometheus["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    assert ("web", 8080) in targets and ("worker", 9100) in targets and ("worker-cpu", 9100) in targets
    assert Path(REPO / "docker/prometheus.yml").name in " ".join(SERVICES["prometheus"]["volumes"])


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from ``env``."""

    def one(match: re.Match[str]) -> str:
        name, how, rest = match[1], match[2] or "", match[3] or ""
        if env.get(name):
            return env[name]
        assert how != ":?", f"{name} must be set in .env: {rest}"
        return rest

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


@pytest.mark.parametrize("name", [name for name, service in SERVICES.items() if ours(service)])
def test_each_service_environment_loads_as_settings(name, tmp_path, monkeypatch):
    """.env.example as the operator copies it, plus what the service adds: valid settings, with the
    database and Redis of the compose network."""
    example = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", line):
            key, _, value = line.partition("=")
            example[key] = value
    example["SWAPBOT_SECRET_KEY"] = "an-operator-chosen-key-of-at-least-32-chars"
    for alias in ALIASES:
        monkeypatch.delenv(alias, raising=False)
    monkeypatch.chdir(tmp_path)
    for key, value in {**example, **SERVICES[name].get("environment", {})}.items():
        monkeypatch.setenv(key, interpolate(str(value), example))
    settings = Settings()
    assert (
        settings.database_url
        == "postgresql+asyncpg://swapbot:change-me-to-a-long-random-hex-string@postgres:5432/swapbot"
    )
    assert settings.redis_url == "redis://redis:6379/0"
    assert str(settings.models_dir) == "/models"
