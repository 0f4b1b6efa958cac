"""The optional LLM translator against a real HTTP server on 127.0.0.1 that replays recorded
chat-completions responses (``llm_recorded.json``) and records what the client sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

import hereabouts as hb
from hereabouts.ask import query as q
from hereabouts.ask.execute import ask
from hereabouts.ask.llm import LLMConfig, LLMError, config_from_env, tools, translate
from hereabouts.cli import app
from hereabouts.model.errors import InputError

RECORDED: dict[str, Any] = json.loads(Path(__file__).with_name("llm_recorded.json").read_text())
DAY0 = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
NOW = DAY0 + timedelta(days=12, hours=12)  # Saturday 15 March, noon UTC
HOME, DEPOT = (52.52, 13.40), (52.50, 13.45)


class Replay:
    """What the server answers next (status, body, delay in seconds) and what it was sent."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, Any, float]] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Replay]]:
    replay = Replay()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            replay.requests.append(json.loads(self.rfile.read(n)))
            replay.paths.append(self.path)
            replay.headers.append(dict(self.headers))
            status, body, delay = replay.queue.pop(0) if replay.queue else (500, {"error": "empty"}, 0.0)
            time.sleep(delay)
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", replay
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _clean(server: tuple[str, Replay]) -> None:
    server[1].queue.clear()
    server[1].requests.clear()
    server[1].paths.clear()
    server[1].headers.clear()


def _van7() -> list[str]:
    rows = []
    for d in range(14):
        day = DAY0 + timedelta(days=d)
        for minute in range(0, 24 * 60, 5):
            t = day + timedelta(minutes=minute)
            at_depot = d % 7 < 5 and 8 * 60 <= minute < 16 * 60
            la, lo = DEPOT if at_depot else HOME
            if d % 7 < 5 and (7 * 60 + 30 <= minute < 8 * 60 or 16 * 60 <= minute < 16 * 60 + 30):
                f = (minute % 30) / 30  # on the road: to the depot in the morning, home in the afternoon
                a, b = (HOME, DEPOT) if minute < 12 * 60 else (DEPOT, HOME)
                la, lo = a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
            rows.append(f"van 7,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{la:.6f},{lo:.6f}")
    return rows


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("llmtown")
    (d / "vans.csv").write_text("device,time,lat,lon\n" + "\n".join(_van7()) + "\n", encoding="utf-8")
    path = str(d / "h.db")
    db = hb.open(path)
    db.import_(d / "vans.csv")
    db.store.add_alias("van 7", "the red van")  # type: ignore[attr-defined]
    db.close()
    return path


@pytest.fixture()
def db(db_path: str) -> Iterator[hb.Database]:
    database = hb.open(db_path)
    yield database
    database.close()


PLACES = {"depot": (DEPOT[0], DEPOT[1], 150.0)}


def test_tools_are_one_function_per_kind_with_valid_schemas() -> None:
    offered = {t["function"]["name"] for t in tools()}
    assert offered == set(q.QUERY_KINDS) - {"refusal", "not_understood"}
    for t in tools():
        assert t["type"] == "function" and t["function"]["description"]
        jsonschema.Draft202012Validator.check_schema(t["function"]["parameters"])
    ts = next(t for t in tools() if t["function"]["name"] == "time_spent")["function"]["parameters"]
    assert ts["required"] == ["entity", "place"] and ts["properties"]["period"]["type"] == "string"
    # a valid call validates against its schema; a wrong one does not
    args = json.loads(
        RECORDED["time_spent_depot"]["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    )
    jsonschema.validate(args, ts)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"entity": "van 7", "place": {"kind": "moon"}}, ts)


def test_a_tool_call_becomes_the_query_and_is_answered(db: hb.Database, server: tuple[str, Replay]) -> None:
    url, replay = server
    replay.queue.append((200, RECORDED["time_spent_depot"], 0.0))
    cfg = LLMConfig(url, model="qwen2.5:7b-instruct", api_key="sk-local")
    a = ask(
        db,
        "how many hours did the red van hang around the depot last week",
        now=NOW,
        tz="UTC",
        places=PLACES,
        llm=cfg,
    )
    # the request: the chat-completions path, model, tools, the question, "a call, never text"
    assert replay.paths == ["/v1/chat/completions"]
    sent = replay.requests[0]
    assert sent["model"] == "qwen2.5:7b-instruct" and sent["tool_choice"] == "required"
    assert sent["tools"] == tools()
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "how many hours did the red van hang around the depot last week"
    assert "van 7" in sent["messages"][0]["content"] and "depot" in sent["messages"][0]["content"]
    assert replay.headers[0].get("Authorization") == "Bearer sk-local"
    # the query: the alias resolved, the phrase "last week" resolved here (Monday 3 to Sunday 9 March)
    assert isinstance(a.query, q.TimeSpent) and a.query.entity == "van 7"
    assert a.query.place == q.NamedPlace("depot")
    assert a.query.period is not None and (a.query.period.start, a.query.period.end) == (
        DAY0,
        DAY0 + timedelta(days=7),
    )
    assert a.available and "translated by the language model" in a.notes[0]
    # five working days of eight hours at the depot
    assert 38 * 3600 <= a.result.to_pylist()[0]["total_s"] <= 41 * 3600


def test_compare_with_a_nested_query(db: hb.Database, server: tuple[str, Replay]) -> None:
    url, replay = server
    replay.queue.append((200, RECORDED["compare_distance"], 0.0))
    query = translate(
        "did van 7 drive more in the first week of march or this week?",
        config=LLMConfig(url),
        entities=["van 7"],
        now=NOW,
        tz="UTC",
    )
    assert isinstance(query, q.Compare) and isinstance(query.query, q.Stats)
    assert query.query.measures == ("distance",)
    assert query.period_a.start == DAY0 and query.period_b.start == DAY0 + timedelta(days=7)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ((500, {"error": {"message": "model not loaded"}}, 0.0), "HTTP 500"),
        ((200, RECORDED["malformed_arguments"], 0.0), "not valid JSON"),
        ((200, RECORDED["plain_text"], 0.0), "wrote text instead of calling a function"),
        ((200, RECORDED["made_up_entity"], 0.0), "entity the data do not have"),
        ((200, "<html>bad gateway</html>", 0.0), "did not answer with JSON"),
        ((200, RECORDED["time_spent_depot"], 1.5), "did not answer within"),
    ],
)
def test_failures_fall_back_to_the_parser(
    db: hb.Database, server: tuple[str, Replay], reply: tuple[int, Any, float], why: str
) -> None:
    url, replay = server
    replay.queue.append(reply)
    cfg = LLMConfig(url, timeout_s=0.5)
    with pytest.raises(LLMError, match=why):
        translate(
            "how long did van 7 spend at the depot last week?",
            config=cfg,
            entities=["van 7"],
            now=NOW,
            tz="UTC",
        )
    replay.queue.append(reply)
    a = ask(db, "how long did van 7 spend at the depot last week?", now=NOW, tz="UTC", places=PLACES, llm=cfg)
    assert isinstance(a.query, q.TimeSpent) and a.available  # the parser's reading, answered
    assert "built-in parser read the question" in a.notes[0] and why in a.notes[0]
    assert "38 hours" not in a.text  # the model's own text never reaches the answer


def test_an_unreachable_endpoint_falls_back(db: hb.Database) -> None:
    cfg = LLMConfig("http://127.0.0.1:9/v1", timeout_s=2)
    a = ask(db, "where was van 7 at 10:00 on Tuesday?", now=NOW, tz="UTC", llm=cfg)
    assert isinstance(a.query, q.WhereAt) and "cannot reach" in a.notes[0]


def test_refusals_are_never_sent(db: hb.Database, server: tuple[str, Replay]) -> None:
    url, replay = server
    a = ask(db, "what religion is the driver of van 7?", now=NOW, tz="UTC", llm=LLMConfig(url))
    assert isinstance(a.query, q.Refusal) and not a.available
    assert replay.requests == []


def test_configuration_from_the_environment() -> None:
    assert config_from_env(env={}) is None
    cfg = config_from_env(env={"HEREABOUTS_LLM_URL": "http://127.0.0.1:8080/v1", "HEREABOUTS_LLM_MODEL": "m"})
    assert cfg == LLMConfig("http://127.0.0.1:8080/v1", "m")
    assert config_from_env("http://x:1/v1", "other", env={"HEREABOUTS_LLM_MODEL": "m"}) == LLMConfig(
        "http://x:1/v1", "other"
    )
    with pytest.raises(InputError, match="not an http"):
        LLMConfig("127.0.0.1:8080")


def test_cli_ask_with_an_llm_url(db_path: str, server: tuple[str, Replay]) -> None:
    url, replay = server
    replay.queue.append((200, RECORDED["time_spent_depot"], 0.0))
    r = CliRunner().invoke(
        app,
        [
            "--db",
            db_path,
            "ask",
            "how long was the red van at the depot last week?",
            "--now",
            NOW.isoformat(),
            "--tz",
            "UTC",
            "--llm-url",
            url,
            "--llm-model",
            "qwen2.5:7b-instruct",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["query"]["kind"] == "time_spent" and out["notes"][0].startswith(
        "translated by the language model"
    )
    assert replay.requests[0]["model"] == "qwen2.5:7b-instruct"
    # the question is in the audit log like any other
    db = hb.open(db_path, read_only=True)
    try:
        log = db.audit_log().to_pylist()
    finally:
        db.close()
    assert any("how long was the red van" in str(row["what"]) for row in log)
