"""A fake of RunPod's management APIs on 127.0.0.1 that refuses any body outside RunPod's published fields.

REST (`/v1/templates`, `/v1/endpoints`: GET lists, POST creates, PATCH updates) and GraphQL (`/graphql`:
saveTemplate as the runpod SDK writes it, inline; saveEndpoint with variables). Bodies are checked against
faceswap.deploy.fields, which is written from RunPod's OpenAPI document and GraphQL reference.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from faceswap.deploy.fields import (
    ENDPOINT_CREATE,
    ENDPOINT_INPUT,
    ENDPOINT_UPDATE,
    SAVE_TEMPLATE_INPUT,
    TEMPLATE_CREATE,
    TEMPLATE_UPDATE,
    Schema,
)

TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:\\.|[^"\\])*")|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<punct>[{}\[\]:,()]))'
)


def graphql_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every token; commas are insignificant in GraphQL and dropped."""
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"GraphQL syntax error at {text[position : position + 30]!r}")
        kind = match.lastgroup or ""
        if match.group(kind) != ",":
            tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def graphql_input(query: str, mutation: str) -> dict[str, Any]:
    """The inline `input: {...}` argument of `mutation` in `query`, as Python values."""
    tokens = graphql_tokens(query)
    start = next(i for i, token in enumerate(tokens) if token == ("name", mutation))
    if tokens[start + 1 : start + 4] != [("punct", "("), ("name", "input"), ("punct", ":")]:
        raise ValueError(f"{mutation} has no inline input argument")
    value, _ = _value(tokens, start + 4)
    if not isinstance(value, dict):
        raise ValueError("input is not an object")
    return value


def _value(tokens: list[tuple[str, str]], index: int) -> tuple[Any, int]:
    kind, text = tokens[index]
    if kind == "string":
        return json.loads(text), index + 1
    if kind == "number":
        return (float(text) if "." in text else int(text)), index + 1
    if kind == "name":
        return {"true": True, "false": False, "null": None}.get(text, text), index + 1
    if text == "[":
        items, index = [], index + 1
        while tokens[index] != ("punct", "]"):
            item, index = _value(tokens, index)
            items.append(item)
        return items, index + 1
    if text == "{":
        fields: dict[str, Any] = {}
        index += 1
        while tokens[index] != ("punct", "}"):
            name = tokens[index][1]
            if tokens[index + 1] != ("punct", ":"):
                raise ValueError(f"expected ':' after {name}")
            fields[name], index = _value(tokens, index + 2)
        return fields, index + 1
    raise ValueError(f"unexpected {text!r}")


@dataclass
class FakeRunPod:
    """State and the record of calls; `url` is the base of both APIs."""

    api_key: str
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    url: str = ""
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids):04d}"


class RefusedError(Exception):
    """A body RunPod would refuse."""

    def __init__(self, status: int, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.status = status
        self.problems = problems


def checked(schema: Schema, body: Any) -> dict[str, Any]:
    """`body` when it is an object within `schema`, else RefusedError."""
    if not isinstance(body, dict):
        raise RefusedError(400, [f"{schema.name}: the body is not a JSON object"])
    problems = schema.problems(body)
    if problems:
        raise RefusedError(400, problems)
    return body


def _rest(fake: FakeRunPod, method: str, path: str, body: Any) -> tuple[int, Any]:
    parts = path.strip("/").split("/")
    if parts[0] != "v1" or len(parts) not in (2, 3) or parts[1] not in ("templates", "endpoints"):
        return 404, {"error": f"no route {method} {path}"}
    store = fake.templates if parts[1] == "templates" else fake.endpoints
    if method == "GET" and len(parts) == 2:
        return 200, list(store.values())
    if method == "POST" and len(parts) == 2:
        schema = TEMPLATE_CREATE if parts[1] == "templates" else ENDPOINT_CREATE
        item = {**checked(schema, body), "id": fake.new_id(parts[1][0])}
        if parts[1] == "endpoints" and item["templateId"] not in fake.templates:
            raise RefusedError(400, [f"templateId {item['templateId']} names no template"])
        store[item["id"]] = item
        return 200, item
    if method == "PATCH" and len(parts) == 3:
        if parts[2] not in store:
            return 404, {"error": f"no {parts[1][:-1]} {parts[2]}"}
        schema = TEMPLATE_UPDATE if parts[1] == "templates" else ENDPOINT_UPDATE
        store[parts[2]].update(checked(schema, body))
        return 200, store[parts[2]]
    return 405, {"error": f"{method} is not allowed on {path}"}


def _graphql(fake: FakeRunPod, body: Any) -> dict[str, Any]:
    query = body.get("query", "") if isinstance(body, dict) else ""
    if "saveTemplate" in query:
        template = checked(SAVE_TEMPLATE_INPUT, graphql_input(query, "saveTemplate"))
        if any(set(pair) != {"key", "value"} for pair in template.get("env", [])):
            raise RefusedError(200, ["SaveTemplateInput.env: items are {key, value}"])
        template = {**template, "id": fake.new_id("t")}
        fake.templates[template["id"]] = template
        return {"data": {"saveTemplate": template}}
    if "saveEndpoint" in query:
        variables = body.get("variables") or {}
        endpoint = checked(ENDPOINT_INPUT, variables.get("input"))
        if endpoint["templateId"] not in fake.templates:
            raise RefusedError(200, [f"templateId {endpoint['templateId']} names no template"])
        if "id" in endpoint:
            if endpoint["id"] not in fake.endpoints:
                raise RefusedError(200, [f"no endpoint {endpoint['id']}"])
            fake.endpoints[endpoint["id"]].update(endpoint)
        else:
            endpoint = {**endpoint, "id": fake.new_id("e")}
            fake.endpoints[endpoint["id"]] = endpoint
        return {"data": {"saveEndpoint": fake.endpoints[endpoint["id"]]}}
    raise RefusedError(200, ["the fake knows saveTemplate and saveEndpoint only"])


class Server:
    """FakeRunPod served on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self, api_key: str) -> None:
        fake = self.fake = FakeRunPod(api_key)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.calls.append((method, self.path, body))
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    status, answer = 401, {"error": "unauthorized"}
                elif self.path == "/graphql" and method == "POST":
                    try:
                        status, answer = 200, _graphql(fake, body)
                    except (RefusedError, ValueError, StopIteration) as exc:
                        status, answer = 200, {"errors": [{"message": str(exc)}]}
                else:
                    try:
                        status, answer = _rest(fake, method, self.path, body)
                    except RefusedError as exc:
                        status, answer = exc.status, {"error": exc.problems}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        fake.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeRunPod:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
