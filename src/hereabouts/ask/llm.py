"""Optional translation of free-form questions into the query algebra by a language model, through
tool calling on any OpenAI-compatible endpoint (a local Ollama or llama.cpp server, say).

The model is offered one function per kind of query (:func:`tools`), generated from the dataclasses
of :mod:`hereabouts.ask.query`; times are passed as the words of the question ("yesterday", "on
weekday mornings") and resolved here by :mod:`hereabouts.ask.timeexpr`, so the model never computes
a date. Its call is parsed into the typed query and validated (known entities, well-formed fields);
the model never answers: text it writes instead of a call is discarded. Refusals are decided by the
deterministic parser before anything is sent. When the endpoint fails, times out, or returns no
valid call, the parser's reading is used instead and the answer says so.

Needs ``httpx`` (the ``llm`` extra: ``pip install 'hereabouts[llm]'``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Union

from ..model.errors import HereaboutsError, InputError
from . import query as q
from . import timeexpr as te

if TYPE_CHECKING:  # pragma: no cover
    from .._db import Database
    from .execute import Answer

__all__ = ["LLMConfig", "LLMError", "config_from_env", "tools", "translate"]

# kinds the model may call: refusals are the parser's, "not understood" is what no call means
_OFFERED = [k for k in q.QUERY_KINDS if k not in ("refusal", "not_understood")]
_NESTED = [k for k in _OFFERED if k != "compare"]
_TIME_DESCRIPTIONS = {
    te.Period: "a stretch of time in the user's words, e.g. 'yesterday', 'last week', 'in October', "
    "'between 3 and 5 pm on Friday', 'since March'",
    te.Moment: "one instant in the user's words, e.g. 'now', 'at 10:00 on Friday', 'yesterday at 3pm', "
    "'tomorrow at 9'",
    te.Recurrence: "a repeating part of the week in the user's words, e.g. 'on weekdays', 'Tuesday "
    "evenings', 'at weekends', 'weekday mornings'",
}
SYSTEM_PROMPT = (
    "You translate one question about recorded movement data into exactly one call of one of the "
    "functions offered. Do not answer the question and do not write any other text: the data are "
    "read by the program, not by you. Use only the entity names and place names listed below, as "
    "written. Pass times as the words the user used ('yesterday', 'last week', 'at 10:00 on "
    "Friday'); do not compute dates. Leave out fields the question does not mention."
)


class LLMError(HereaboutsError):
    """The language model endpoint failed or gave no valid function call."""


@dataclass(frozen=True)
class LLMConfig:
    """Where the OpenAI-compatible endpoint is: ``base_url`` up to ``/v1`` (``/chat/completions`` is
    appended), the ``model`` name, an optional API key, and the request timeout in seconds."""

    base_url: str
    model: str = "default"
    api_key: str | None = None
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise InputError(
                f"LLM endpoint {self.base_url!r} is not an http(s) URL",
                hint="e.g. http://127.0.0.1:11434/v1 for a local Ollama",
            )
        if not self.timeout_s > 0:
            raise InputError(f"LLM timeout must be positive, got {self.timeout_s} s")


def config_from_env(
    url: str | None = None, model: str | None = None, env: Mapping[str, str] | None = None
) -> LLMConfig | None:
    """The configuration from arguments, else ``HEREABOUTS_LLM_URL`` / ``HEREABOUTS_LLM_MODEL`` /
    ``HEREABOUTS_LLM_KEY``; None when no URL is given (the parser alone answers)."""
    env = os.environ if env is None else env
    url = url or env.get("HEREABOUTS_LLM_URL")
    if not url:
        return None
    return LLMConfig(
        url, model or env.get("HEREABOUTS_LLM_MODEL") or "default", env.get("HEREABOUTS_LLM_KEY")
    )


# ------------------------------------------------------------------ the tools offered


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[q.__name__]))


def _object_schema(cls: type, *, with_kind: bool, path: frozenset[type] = frozenset()) -> dict[str, Any]:
    props: dict[str, Any] = {"kind": {"const": cls.kind}} if with_kind else {}  # type: ignore[attr-defined]
    required = ["kind"] if with_kind else []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        props[f.name] = _param_schema(hints[f.name], path | {cls})
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _param_schema(tp: Any, path: frozenset[type] = frozenset()) -> dict[str, Any]:
    """The JSON Schema of a field type; a class already on ``path`` is not offered again inside
    itself (no "near near", no comparison inside a comparison)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if args and all(isinstance(a, type) and issubclass(a, q._Node) for a in args):
            offered = {q.QUERY_KINDS[k] for k in _NESTED} | set(typing.get_args(q.PlaceRef))
            args = [a for a in args if a in offered and a not in path]
            alts = [dict(_object_schema(a, with_kind=True, path=path), description=_doc(a)) for a in args]
            return alts[0] if len(alts) == 1 else {"oneOf": alts}
        return _param_schema(args[0], path)
    if origin is Literal:
        return {"enum": list(typing.get_args(tp))}
    if origin is tuple:
        return {"type": "array", "items": _param_schema(typing.get_args(tp)[0], path)}
    if tp in _TIME_DESCRIPTIONS:
        return {"type": "string", "description": _TIME_DESCRIPTIONS[tp]}
    if isinstance(tp, type) and issubclass(tp, q._Node):
        return _object_schema(tp, with_kind=True, path=path)
    return {"type": {str: "string", int: "integer", float: "number", bool: "boolean"}[tp]}


def _doc(cls: type) -> str:
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0]


def tools() -> list[dict[str, Any]]:
    """The functions offered to the model: one per kind of query, its parameters a JSON Schema
    generated from the query's dataclass (times as phrases, place references as tagged objects)."""
    out = []
    for kind in _OFFERED:
        cls = q.QUERY_KINDS[kind]
        out.append(
            {
                "type": "function",
                "function": {
                    "name": kind,
                    "description": _doc(cls),
                    "parameters": _object_schema(cls, with_kind=False),
                },
            }
        )
    return out


# ------------------------------------------------------------------ reading the model's call


@dataclass(frozen=True)
class _Env:
    entities: dict[str, str]  # lower-cased name or alias -> entity
    now: datetime
    tz: str
    prefer: te.Prefer


def _resolve_times(cls: type, args: dict[str, Any], env: _Env, where: str) -> dict[str, Any]:
    """``args`` with time phrases resolved and nested objects converted, in the JSON of
    :func:`hereabouts.ask.query.from_dict`."""
    if not isinstance(args, dict):
        raise LLMError(f"{where}: expected an object of arguments, got {type(args).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(args) - names - {"kind"})
    if unknown:
        raise LLMError(f"{where}: unknown argument(s) {', '.join(unknown)} for {cls.kind}")  # type: ignore[attr-defined]
    out: dict[str, Any] = {"kind": cls.kind}  # type: ignore[attr-defined]
    for name, value in args.items():
        if name == "kind" or value is None:
            continue
        out[name] = _convert(hints[name], value, env, f"{where}.{name}")
    return out


def _convert(tp: Any, value: Any, env: _Env, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nodes = [a for a in args if isinstance(a, type) and issubclass(a, q._Node)]
        if nodes:
            if not isinstance(value, dict):
                raise LLMError(f"{where}: expected an object with a 'kind', got {value!r}")
            cls = next((a for a in nodes if a.kind == value.get("kind")), None)
            if cls is None:
                raise LLMError(f"{where}: unknown kind {value.get('kind')!r}")
            return _resolve_times(cls, value, env, where)
        return _convert(args[0], value, env, where)
    if tp in _TIME_DESCRIPTIONS and isinstance(value, str):
        try:
            if tp is te.Period:
                obj: Any = te.parse_period(value, now=env.now, tz=env.tz, prefer=env.prefer)
            elif tp is te.Moment:
                obj = te.parse_moment(value, now=env.now, tz=env.tz, prefer=env.prefer)
            else:
                obj = te.parse_recurrence(value, tz=env.tz, now=env.now)
        except InputError as exc:
            raise LLMError(f"{where}: {exc}") from exc
        return q._encode(obj)
    if isinstance(tp, type) and issubclass(tp, q._Node) and isinstance(value, dict):
        return _resolve_times(tp, value, env, where)
    if origin is tuple and isinstance(value, list):
        return [_convert(typing.get_args(tp)[0], v, env, where) for v in value]
    return value


def _check_entities(query: q.Query, env: _Env) -> q.Query:
    """The query with every entity name replaced by the canonical one; LLMError for a name the
    data do not have (the model made it up)."""
    changes: dict[str, Any] = {}
    for name in ("entity", "entity_a", "entity_b"):
        v = getattr(query, name, None)
        if isinstance(v, str):
            canon = env.entities.get(v.strip().lower())
            if canon is None:
                raise LLMError(f"the model named an entity the data do not have: {v!r}")
            changes[name] = canon
    inner = getattr(query, "query", None)
    if isinstance(inner, q._Node):
        changes["query"] = _check_entities(inner, env)  # type: ignore[arg-type]
    return dataclasses.replace(query, **changes) if changes else query


def query_from_response(body: Any, env: _Env) -> q.Query:
    """The typed query in a chat-completions response: the first tool call of the first choice.
    Raises :class:`LLMError` for a response without one (plain text is never taken as an answer),
    for arguments that are not a JSON object, or for a query that does not validate."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError("the endpoint's response has no choices[0].message") from exc
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if not calls:
        text = message.get("content") if isinstance(message, dict) else None
        raise LLMError(
            "the model wrote text instead of calling a function"
            + (f" ({len(text)} characters, discarded)" if isinstance(text, str) else "")
        )
    fn = calls[0].get("function") if isinstance(calls[0], dict) else None
    if not isinstance(fn, dict) or fn.get("name") not in _OFFERED:
        name = fn.get("name") if isinstance(fn, dict) else None
        raise LLMError(
            f"the model called an unknown function {name!r}; expected one of {', '.join(_OFFERED)}"
        )
    raw = fn.get("arguments")
    if isinstance(raw, str):
        try:
            args = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise LLMError(
                f"the arguments of {fn['name']} are not valid JSON ({exc.msg} at {exc.pos})"
            ) from exc
    else:
        args = raw  # some OpenAI-compatible servers send an object
    cls = q.QUERY_KINDS[fn["name"]]
    data = _resolve_times(cls, args, env, fn["name"])
    try:
        query = q.from_dict(data)
    except (InputError, KeyError, TypeError, ValueError) as exc:
        raise LLMError(f"the model's {fn['name']} call does not make a valid query: {exc}") from exc
    return _check_entities(query, env)


# ------------------------------------------------------------------ the request


def request_body(
    question: str,
    *,
    model: str,
    entities: Sequence[str],
    aliases: Mapping[str, str],
    places: Sequence[str],
    now: datetime,
    tz: str,
    default_entity: str | None,
) -> dict[str, Any]:
    """The chat-completions request: the system prompt with what the data hold, the question, the
    tools; ``tool_choice`` "required" (a call, never text) and temperature 0."""
    lines = [
        SYSTEM_PROMPT,
        "Entities: " + (", ".join(entities) or "(none)") + ".",
    ]
    if aliases:
        lines.append("Other names: " + ", ".join(f"{a} = {e}" for a, e in sorted(aliases.items())) + ".")
    if default_entity:
        lines.append(f"'I', 'me' and 'my' mean {default_entity}.")
    if places:
        lines.append("Named places: " + ", ".join(places) + ".")
    lines.append(f"Time zone: {tz}.")
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "\n".join(lines)},
            {"role": "user", "content": question},
        ],
        "tools": tools(),
        "tool_choice": "required",
        "temperature": 0,
    }


def translate(
    question: str,
    *,
    config: LLMConfig,
    entities: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    places: Sequence[str] = (),
    now: datetime,
    tz: str,
    default_entity: str | None = None,
) -> q.Query:
    """The query the model's function call makes of ``question``; :class:`LLMError` when the
    endpoint cannot be reached, answers with an error or a timeout, or gives no valid call."""
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - the llm extra
        raise LLMError("the LLM translator needs httpx", hint="pip install 'hereabouts[llm]'") from exc
    aliases = dict(aliases or {})
    body = request_body(
        question,
        model=config.model,
        entities=entities,
        aliases=aliases,
        places=places,
        now=now,
        tz=tz,
        default_entity=default_entity,
    )
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    url = config.base_url.rstrip("/") + "/chat/completions"
    try:
        r = httpx.post(url, json=body, headers=headers, timeout=config.timeout_s)
    except httpx.TimeoutException as exc:
        raise LLMError(f"the LLM endpoint {url} did not answer within {config.timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        raise LLMError(f"cannot reach the LLM endpoint {url}: {exc}") from exc
    if r.status_code != 200:
        raise LLMError(f"the LLM endpoint {url} answered HTTP {r.status_code}: {r.text[:200]}")
    try:
        data = r.json()
    except ValueError as exc:
        raise LLMError(f"the LLM endpoint {url} did not answer with JSON") from exc
    known = {e.lower(): e for e in entities}
    known.update({a.lower(): e for a, e in aliases.items()})
    if default_entity is not None:
        known.setdefault(default_entity.lower(), default_entity)
    from .parse import _FUTURE

    prefer: te.Prefer = "future" if re.search(_FUTURE, question.lower()) else "past"
    return query_from_response(data, _Env(known, now, tz, prefer))


def ask_llm(
    db: Database,
    question: str,
    config: LLMConfig,
    *,
    now: datetime | None = None,
    tz: str | None = None,
    entity: str | None = None,
    places: Mapping[str, Any] | None = None,
    actor: str | None = None,
    purpose: str | None = None,
) -> Answer:
    """:meth:`hereabouts.Database.ask` with the model translating the question (see the module):
    the question is written to the audit log first (with the endpoint), then answered."""
    from .execute import ask

    what = {"question": question, "entity": entity, "llm": f"{config.model} at {config.base_url}"}
    db._audit("ask", what, actor=actor, purpose=purpose)
    return ask(db, question, now=now, tz=tz, default_entity=entity, places=places, llm=config)
