"""The HTTP API, end to end: the real bot (SimCord for Discord) serving on a real socket,
asked with a real HTTP client: health, Prometheus metrics, the REST endpoints with their
token, a table of bad requests (each a 4xx with a JSON message, never a 5xx), and
schemathesis fuzzing the live server against the OpenAPI document it serves.

The server runs on the bot's event loop; the test's client shares that loop, and
schemathesis (synchronous) runs in a worker thread while the loop keeps serving."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from prometheus_client.parser import text_string_to_metric_families

from bot.app import EarwormBot, create_bot
from bot.http.server import HttpServerError, start_http_server
from bot.learning.run import RunOutcome
from bot.settings import load_settings
from storage.database import Database
from storage.engine import make_engine, make_sessionmaker
from storage.models import ModelStatus
from storage.repositories.registry import register_model
from tests.bot.guild import conftest as guild
from tests.bot.guild.conftest import Server
from tests.bot.world import NAMES, TRACKS
from tests.cli import clean_env, earworm
from tests.conftest import POSTGRES_SERVER
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

# The bot in one guild (tests/bot/guild/conftest.py), with the simcord_bot defined here.
server = guild.server

API_TOKEN = "api-token-5f0c1e"
SECRETS = (API_TOKEN, "discord-token-9a7b", "spotify-secret-3d2e", "db-password-8c4f")
HALO, BOHEMIAN = track_id(0), track_id(5)
ROCK = {track_id(5), track_id(6)}


# --- the bot under test ------------------------------------------------------------------


def import_world(data_dir: Path, env: dict[str, str], csv_dir: Path) -> None:
    rows = [
        kaggle_row(number, track_id(number), name, artist, genre, popularity=popularity)
        for number, name, artist, genre, popularity in TRACKS
    ]
    catalog = write_csv(csv_dir / "catalog.csv", KAGGLE_114K_HEADER, rows)
    result = earworm("catalog", "import", str(catalog), env=env)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The world imported once for the module (SQLite; on PostgreSQL each test's database
    is its own, so each test imports)."""
    if POSTGRES_SERVER is not None:
        return None
    folder = tmp_path_factory.mktemp("world")
    data = folder / "data"
    import_world(data, clean_env(data), folder)
    return data


@pytest.fixture
def imported(world_template: Path | None, env: dict[str, str], tmp_path: Path) -> Path:
    data = Path(env["EARWORM_DATA_DIR"])
    if world_template is None:
        import_world(data, env, tmp_path)
    else:
        shutil.copytree(world_template, data)
    return data


@pytest.fixture
def port(unused_tcp_port: int) -> int:
    return unused_tcp_port


def bot_settings(data_dir: Path, port: int, **more: Any) -> Any:
    return load_settings(
        EARWORM_DATA_DIR=str(data_dir),
        EARWORM_HTTP_PORT=port,
        DISCORD_TOKEN=SECRETS[1],
        SPOTIFY_CLIENT_SECRET=SECRETS[2],  # no client id: Spotify stays off, the secret is set
        **more,
    )


@pytest.fixture
def simcord_bot(request: pytest.FixtureRequest, port: int, env: dict[str, str]) -> EarwormBot:
    """The world with the API token set; parametrized "empty": no catalog, no API token,
    two gateway shards."""
    if getattr(request, "param", None) == "empty":
        data = Path(env["EARWORM_DATA_DIR"])
        data.mkdir(parents=True)
        return create_bot(bot_settings(data, port, EARWORM_SHARDS="2"))
    imported = request.getfixturevalue("imported")
    return create_bot(bot_settings(imported, port, EARWORM_API_TOKEN=API_TOKEN))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Client:
    """GETs against the bot's server; keeps every answer to check none leaks a secret."""

    session: aiohttp.ClientSession
    base: str
    answers: list[Answer] = field(default_factory=list)

    async def get(
        self,
        path: str,
        token: str | None = API_TOKEN,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> Answer:
        if headers is None:
            headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        url = yarl.URL(self.base + path, encoded="%" in path)
        query = {key: str(value) for key, value in params.items()}
        async with self.session.request(method, url, params=query, headers=headers) as reply:
            answer = Answer(reply.status, dict(reply.headers), await reply.text())
        self.answers.append(answer)
        return answer

    def assert_no_secret_leaked(self) -> None:
        for answer in self.answers:
            for secret in SECRETS:
                assert secret not in answer.text
                assert all(secret not in value for value in answer.headers.values())


@pytest.fixture
async def http(port: int) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        client = Client(session, f"http://127.0.0.1:{port}")
        yield client
        client.assert_no_secret_leaked()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, by name and labels (it must parse)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str):
    return page.get((name, frozenset(labels.items())), 0.0)


# --- health --------------------------------------------------------------------------------


@pytest.fixture
def unreachable_database() -> Database:
    """A database that refuses connections (nothing listens on port 1), with a password."""
    engine = make_engine(f"postgresql+asyncpg://earworm:{SECRETS[3]}@127.0.0.1:1/earworm")
    return Database(engine, make_sessionmaker(engine))


async def test_health_is_ok_then_503_naming_the_database_while_it_is_down(
    server: Server, http: Client, unreachable_database: Database
) -> None:
    healthy = await http.get("/healthz", token=None)
    assert healthy.status == 200
    assert healthy.json == {
        "status": "ok",
        "checks": {"gateway": "ok", "database": "ok", "model": "ok"},
    }

    working, server.bot._database = server.bot._database, unreachable_database
    try:
        down = await http.get("/healthz", token=None)
    finally:
        server.bot._database = working
    assert down.status == 503
    assert down.json["failing"] == ["database"]
    assert down.json["checks"]["database"] == "unreachable"
    assert "127.0.0.1" not in down.text
    assert (await http.get("/healthz")).status == 200


async def test_health_is_503_while_the_bot_shuts_down(server: Server, http: Client) -> None:
    bot = server.bot
    with bot.in_flight.track():  # a command still answering keeps the shutdown waiting
        stopping = asyncio.get_running_loop().create_task(bot.shutdown(grace=30))
        await asyncio.sleep(0)
        draining = await http.get("/healthz", token=None)
        assert draining.status == 503
        assert draining.json["failing"] == ["gateway"]
        assert draining.json["checks"]["gateway"] == "shutting down"
    await stopping
    assert bot.is_closed()


@pytest.mark.parametrize("simcord_bot", ["empty"], indirect=True)
async def test_health_names_a_missing_model_and_a_lost_shard_and_rest_wants_a_token(
    simcord_env: Any, http: Client
) -> None:
    bot = simcord_env.bot
    assert len(bot.shards) == 2

    empty = await http.get("/healthz")
    assert empty.status == 503
    assert empty.json["failing"] == ["model"]
    assert empty.json["checks"]["gateway"] == "ok"

    shard = bot.get_shard(1)
    await shard.disconnect()
    both = await http.get("/healthz")
    assert both.json["failing"] == ["gateway", "model"]
    assert both.json["checks"]["gateway"] == "shard 1 disconnected"
    await shard.reconnect()
    assert (await http.get("/healthz")).json["failing"] == ["model"]

    off = await http.get("/api/v1/trending")
    assert off.status == 503
    assert "set EARWORM_API_TOKEN" in off.json["error"]


async def test_a_port_in_use_is_a_clear_error(server: Server) -> None:
    with pytest.raises(HttpServerError, match="EARWORM_HTTP_PORT"):
        await start_http_server(server.bot)  # the bot's own server holds the port


# --- metrics -------------------------------------------------------------------------------


async def test_metrics_count_commands_feedback_models_and_loop_lag(
    server: Server, http: Client
) -> None:
    before = samples((await http.get("/metrics", token=None)).text)
    assert value(before, "earworm_serving_ready") == 1
    assert value(before, "earworm_training_running") == 0

    result = await server.bob.slash(server.channel, "similar", track=HALO, count=3)
    assert result.response is not None
    await server.alice.react(result.response, "👍")
    async with server.bot.database.sessions() as session:
        await register_model(
            session,
            "als",
            status=ModelStatus.REJECTED,
            trained_at=None,
            training_rows=None,
            metrics={},
            artifact_path=None,
        )
        await session.commit()
    started = datetime(2026, 1, 1, 4, tzinfo=UTC)
    failed = RunOutcome(("als",), started, started + timedelta(seconds=42), error="it broke")
    server.bot.get_cog("Admin").runner.last = failed  # as a run of this bot leaves it
    await asyncio.sleep(0.25)  # a few loop-lag samples (one every 0.1 s)

    page = await http.get("/metrics", token=None)
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = samples(page.text)
    similar = {"kind": "command", "command": "similar"}
    duration = "earworm_interaction_duration_seconds"
    assert (
        value(after, f"{duration}_count", **similar)
        == value(before, f"{duration}_count", **similar) + 1
    )
    assert value(after, f"{duration}_sum", **similar) > 0
    assert value(after, "earworm_feedback_events_total", kind="like") == 1
    assert value(after, "earworm_registered_models", kind="als", status="rejected") == 1
    run = {"models": failed.label}
    assert value(after, "earworm_training_last_duration_seconds", **run) == 42
    assert value(after, "earworm_training_last_success", **run) == 0
    assert value(after, "earworm_event_loop_lag_seconds_count") >= 1
    assert value(after, "earworm_http_requests_total", route="/metrics", status="200") >= 1
    assert value(after, "earworm_guilds") == 1


# --- REST ----------------------------------------------------------------------------------


async def test_rest_needs_the_bearer_token(server: Server, http: Client) -> None:
    for token in (None, "wrong", "", f"{API_TOKEN}x", "é"):
        answer = await http.get("/api/v1/trending", token=token)
        assert answer.status == 401, token
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "EARWORM_API_TOKEN" in answer.json["error"]
    for scheme in ("Basic", "Token", ""):
        header = {"Authorization": f"{scheme} {API_TOKEN}".strip()}
        assert (await http.get("/api/v1/trending", headers=header)).status == 401, scheme
    assert (await http.get("/api/v1/trending")).status == 200


def ids(answer: Answer) -> list[str]:
    assert answer.status == 200, answer.text
    return [pick["id"] for pick in answer.json["picks"]]


async def test_rest_endpoints_answer_what_the_slash_commands_show(
    server: Server, http: Client
) -> None:
    recommended = await http.get("/api/v1/recommend", user=server.alice.id, count=3)
    assert len(ids(recommended)) == 3
    assert recommended.json["model"]["kind"] == "hybrid"
    first = recommended.json["picks"][0]
    assert first["rank"] == 1
    assert first["url"] == f"https://open.spotify.com/track/{first['id']}"
    assert first["reason"]
    assert first["name"] == NAMES[first["id"]]
    assert set(ids(await http.get("/api/v1/recommend", user=1, genre="ROCK"))) <= ROCK

    alike = await http.get("/api/v1/similar", track=BOHEMIAN, mode="genre", count=1)
    assert ids(alike) == [track_id(6)]  # the only other rock song
    assert alike.json["title"] == "Sounds like Bohemian Rhapsody by Queen (same genre)"
    link = f"https://open.spotify.com/track/{HALO}?si=abc"
    styled = await http.get("/api/v1/similar", track=link, count=2)  # mode normal: the blend
    assert len(ids(styled)) == 2
    assert styled.json["title"] == "Like Halo by Beyoncé"
    assert ids(styled)[0] == track_id(1)  # Beyoncé's other pop song first
    sound = await http.get("/api/v1/similar", track=HALO, mode="sound", count=2)
    assert sound.json["title"] == "Sounds like Halo by Beyoncé"
    assert all("to Halo by Beyoncé" in pick["reason"] for pick in sound.json["picks"])

    everywhere = await http.get("/api/v1/trending", count=4)
    assert len(ids(everywhere)) == 4
    assert everywhere.json["model"] == {"kind": "trending", "version": None}
    here = await http.get("/api/v1/trending", guild=server.guild.id, genre="rock")
    assert set(ids(here)) <= ROCK
    assert here.json["title"] == "Trending on this server in rock"


async def test_a_busy_bot_answers_503_with_retry_after(server: Server, http: Client) -> None:
    calls = server.bot.engine.model_calls
    calls.wait = 0.05  # how long a request waits for a model-call slot
    release = threading.Event()
    holders = [
        asyncio.ensure_future(calls.run(lambda: release.wait(10))) for _ in range(calls.limit)
    ]
    try:
        await asyncio.sleep(0.05)
        busy = await http.get("/api/v1/trending")
    finally:
        release.set()
        await asyncio.gather(*holders)
    assert busy.status == 503
    assert "busy" in busy.json["error"]
    assert int(busy.headers["Retry-After"]) >= 1
    page = samples((await http.get("/metrics")).text)
    assert value(page, "earworm_model_calls_refused_total") == 1
    assert (await http.get("/api/v1/trending")).status == 200


LONG = "x" * 5000
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    # (path, query, status, a word of the message)
    ("/api/v1/recommend", {}, 400, "user is required"),
    ("/api/v1/recommend", {"user": "abc"}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": -5}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": 0}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": 2**63}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": "9" * 40}, 400, "too long"),
    ("/api/v1/recommend", {"user": "1e5"}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": "１２３"}, 400, "Discord user id"),  # full-width digits
    ("/api/v1/recommend", {"user": "<@123>"}, 400, "Discord user id"),
    ("/api/v1/recommend", {"user": 5, "count": 0}, 400, "count"),
    ("/api/v1/recommend", {"user": 5, "count": 26}, 400, "count"),
    ("/api/v1/recommend", {"user": 5, "count": -1}, 400, "count"),
    ("/api/v1/recommend", {"user": 5, "count": 10**30}, 400, "too long"),
    ("/api/v1/recommend", {"user": 5, "count": "1.5"}, 400, "count"),
    ("/api/v1/recommend", {"user": 5, "count": "ten"}, 400, "count"),
    ("/api/v1/recommend", {"user": 5, "genre": "polka"}, 404, "no genre"),
    ("/api/v1/recommend", {"user": 5, "genre": "@everyone **rock**"}, 404, "no genre"),
    ("/api/v1/recommend", {"user": 5, "genre": "rock\x00"}, 400, "control characters"),
    ("/api/v1/recommend", {"user": 5, "genre": "ro\nck"}, 400, "control characters"),
    ("/api/v1/recommend", {"user": 5, "genre": LONG}, 400, "too long"),
    ("/api/v1/similar", {}, 400, "track is required"),
    ("/api/v1/similar", {"track": "Halo"}, 400, "Spotify track id"),
    ("/api/v1/similar", {"track": "<@&123> `code` ||spoiler||"}, 400, "Spotify track id"),
    ("/api/v1/similar", {"track": LONG}, 400, "too long"),
    ("/api/v1/similar", {"track": "A" * 22}, 404, "no track"),
    ("/api/v1/similar", {"track": f"https://evil.example/track/{HALO}"}, 400, "Spotify"),
    ("/api/v1/similar", {"track": HALO, "mode": "GENRE"}, 400, "mode must be one of"),
    ("/api/v1/similar", {"track": HALO, "mode": "\u202enormal"}, 400, "mode must be one of"),
    ("/api/v1/similar", {"track": HALO, "count": 99999}, 400, "count"),
    ("/api/v1/trending", {"scope": "server"}, 400, "needs guild"),
    ("/api/v1/trending", {"scope": "galaxy"}, 400, "scope must be one of"),
    ("/api/v1/trending", {"guild": "-1"}, 400, "Discord server id"),
    ("/api/v1/trending", {"guild": "12ab"}, 400, "Discord server id"),
    ("/api/v1/trending", {"genre": "\x1b[31mred"}, 400, "control characters"),
    ("/api/v1/trending", {"genre": "🎸" * 30}, 404, "no genre"),
    ("/api/v1/trending?count=1&count=2", {}, 400, "count once"),
    ("/api/v1/trending?genre=%FF%FE", {}, 404, "no genre"),  # not UTF-8
    ("/api/v1/trending?genre=%ED%A0%80", {}, 404, "no genre"),  # an encoded lone surrogate
    ("/api/v1/nothing", {}, 404, "Not Found"),
    ("/api/v1/openapi.json/..%2F..%2Fsettings", {}, 404, "Not Found"),
]


async def test_bad_requests_get_a_4xx_with_a_json_message_never_a_5xx(
    server: Server, http: Client
) -> None:
    for path, query, status, words in BAD_REQUESTS:
        answer = await http.get(path, **query)
        assert answer.status == status, (path, query, answer.text)
        assert answer.headers["Content-Type"].startswith("application/json")
        assert words.lower() in answer.json["error"].lower(), (path, query, answer.json)
        assert "Traceback" not in answer.text
    wrong_method = await http.get("/api/v1/recommend", method="POST", user=5)
    assert wrong_method.status == 405
    assert wrong_method.headers["Allow"] == "GET,HEAD"
    # Past aiohttp's limits (8190 bytes a line or a header) its parser refuses before any
    # handler runs: still a 4xx with the API's JSON body.
    long_line = await http.get("/api/v1/trending", genre="y" * 20_000)
    long_header = await http.get("/api/v1/trending", headers={"X-Long": "z" * 20_000})
    for refused in (long_line, long_header):
        assert 400 <= refused.status < 500, refused.text
        assert refused.headers["Content-Type"].startswith("application/json"), refused.text
        assert "too long" in refused.json["error"]


# --- property-based: schemathesis against the served OpenAPI document -------------------


def fuzz(
    document: dict[str, Any], base_url: str, known: dict[str, dict[str, list[Any]]], examples: int
) -> None:
    """Every operation with generated valid requests, and the REST ones with invalid ones
    too: no 5xx, and every answer as the document says (status, media type, headers,
    schema). Valid requests use, half of the time, `known` values (path -> parameter ->
    values) that exist in the world: random track ids would all be 404s. Runs in a
    thread: schemathesis is synchronous."""
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        ignored_auth,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    conformance = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    rest = ("/api/v1/recommend", "/api/v1/similar", "/api/v1/trending")
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        operation = result.ok()
        # Valid requests without the token must be refused.
        valid = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
        if operation.path in known:
            values = {
                name: st.sampled_from([None, *choices])
                for name, choices in known[operation.path].items()
            }
            valid = st.one_of(valid, st.tuples(valid, st.fixed_dictionaries(values)).map(merged))
        run_cases(valid, base_url, [*conformance, ignored_auth], examples)
        if operation.path in rest:
            invalid = operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE)
            run_cases(invalid, base_url, [*conformance, negative_data_rejection], examples)


def merged(pair: tuple[Any, dict[str, Any]]) -> Any:
    case, values = pair
    case.query = {**case.query, **{k: v for k, v in values.items() if v is not None}}
    return case


def run_cases(strategy: Any, base_url: str, checks: list[Any], examples: int) -> None:
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, checks=checks
        )

    check()


async def test_schemathesis_finds_no_server_error_and_answers_match_the_document(
    server: Server, http: Client
) -> None:
    served = await http.get("/api/v1/openapi.json", token=None)
    assert served.status == 200
    document = served.json
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    genres = ["rock", "POP", "indie"]
    known = {
        "/api/v1/recommend": {"user": [server.alice.id], "genre": genres},
        "/api/v1/similar": {"track": [track_id(n) for n in range(len(TRACKS))]},
        "/api/v1/trending": {"guild": [server.guild.id], "genre": genres},
    }
    await asyncio.to_thread(fuzz, document, http.base, known, 12)

    # It did ask: every REST endpoint answered picks and refused bad requests.
    page = samples((await http.get("/metrics")).text)
    for route in known:
        assert value(page, "earworm_http_requests_total", route=route, status="200") > 0, route
        assert value(page, "earworm_http_requests_total", route=route, status="400") > 0, route
