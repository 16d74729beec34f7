"""The deployment files, checked without a Docker engine (none runs here): the Dockerfile,
compose.yaml and .env.example must agree with the code, the settings and what CI runs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import pytest
import yaml

from bot.cli import main as cli
from bot.settings import Settings, load_settings
from tests.conftest import REPO_ROOT

INSTALL_SCRIPT = "scripts/install.sh"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for name, argument in self.instructions if name == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, argument = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = argument.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif keyword == "ARG" and not stages:
            continue
        else:
            stages[-1].instructions.append((keyword, argument.strip()))
    return stages


def env_pairs(stage: Stage) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for argument in stage.all("ENV"):
        for token in shlex.split(argument):
            key, _, value = token.partition("=")
            pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages((REPO_ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())


def setting_names() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values()}


# --- Dockerfile ---------------------------------------------------------------------------


def test_the_image_is_multi_stage_and_runs_as_a_user(stages: list[Stage]):
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert any(f"--from={build.name}" in copy for copy in final.all("COPY"))
    users = final.all("USER")
    assert users, "the final stage must switch to a user"
    assert users[-1] not in {"root", "0"}
    assert not final.all("RUN") or all("pip install" not in run for run in final.all("RUN"))


def test_every_path_the_dockerfile_copies_exists(stages: list[Stage]):
    for stage in stages:
        for argument in stage.all("COPY"):
            if argument.startswith("--from"):
                continue
            *sources, _target = shlex.split(argument)
            for source in sources:
                assert (REPO_ROOT / source).exists(), source


def test_the_image_installs_with_the_same_script_as_ci(stages: list[Stage]):
    runs = stages[0].all("RUN")
    assert [run for run in runs if INSTALL_SCRIPT in run] == [f"{INSTALL_SCRIPT} /opt/venv ."]
    assert not [run for run in runs if "pip install" in run], "install only through the script"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(rf"^\t.*{re.escape(INSTALL_SCRIPT)} \$\(VENV\) ", makefile, re.MULTILINE)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert (REPO_ROOT / INSTALL_SCRIPT).stat().st_mode & 0o111, "the script must be executable"


def test_the_command_is_a_real_earworm_command(stages: list[Stage]):
    [command] = stages[-1].all("CMD")
    program, subcommand = yaml.safe_load(command)  # exec form: a JSON array
    assert program == "earworm"
    assert cli.get_command(None, subcommand) is not None  # type: ignore[arg-type]


def test_the_healthcheck_probes_healthz_on_the_configured_port(stages: list[Stage]):
    final = stages[-1]
    env = env_pairs(final)
    port = load_settings(EARWORM_HTTP_PORT=env["EARWORM_HTTP_PORT"]).http_port
    assert port is not None
    assert final.all("EXPOSE") == [str(port)]
    [healthcheck] = final.all("HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "EARWORM_HTTP_PORT" in healthcheck  # the same variable the bot binds to
    assert "127.0.0.1" in healthcheck  # the bot's default bind address
    assert env["EARWORM_DATA_DIR"] == "/data"
    assert set(env) - {"PATH", "PYTHONUNBUFFERED"} <= setting_names()
    load_settings(**{key: value for key, value in env.items() if key in setting_names()})


# --- compose.yaml -------------------------------------------------------------------------


def test_compose_builds_this_image_and_publishes_the_http_port(compose: dict):
    bot = compose["services"]["bot"]
    assert (REPO_ROOT / bot["build"] / "Dockerfile").exists()
    environment = {key: str(value) for key, value in bot["environment"].items()}
    assert set(environment) <= setting_names()
    settings = load_settings(**environment)
    published = [str(port).rsplit(":", 1) for port in bot["ports"]]
    assert [container for _, container in published] == [str(settings.http_port)]
    assert all(host.startswith("127.0.0.1:") for host, _ in published)
    grace = float(bot["stop_grace_period"].removesuffix("s"))
    assert grace > Settings.model_fields["shutdown_timeout"].default


def test_postgres_is_optional_under_a_profile_with_a_named_volume(compose: dict):
    postgres = compose["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    [volume] = postgres["volumes"]
    name, _, mount = volume.partition(":")
    assert name in compose["volumes"]
    assert mount == "/var/lib/postgresql/data"
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert compose["services"]["bot"]["depends_on"]["postgres"]["required"] is False
    for volume in compose["services"]["bot"]["volumes"]:
        assert volume.split(":")[0] in compose["volumes"]


# --- .env.example -------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    entries = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#? ?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            entries[match[1]] = match[2]
    return entries


def test_env_example_lists_every_setting_and_only_real_ones():
    listed = set(env_example())
    assert setting_names() - {"EARWORM_TRAINING_FAULT"} <= listed
    compose_only = {"POSTGRES_PASSWORD"}
    assert listed - compose_only <= setting_names()


def test_env_example_values_are_valid_settings():
    values = {
        key: value for key, value in env_example().items() if key in setting_names() and value
    }
    settings = load_settings(**values)
    assert settings.http_port == 8080
    assert settings.discord_token is None  # left blank: "not set", not an empty token
