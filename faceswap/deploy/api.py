"""Sends the calls of faceswap.deploy.calls to RunPod: REST with httpx, GraphQL through the runpod SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import runpod
from runpod import error as runpod_error
from runpod.api import ctl_commands

from faceswap.deploy.calls import Request
from faceswap.errors import DeployError

__all__ = ["DEFAULT_GRAPHQL_URL", "DEFAULT_REST_URL", "RunPodApi"]

DEFAULT_REST_URL = "https://rest.runpod.io/v1"
DEFAULT_GRAPHQL_URL = "https://api.runpod.io"
TIMEOUT_S = 30.0


@contextmanager
def _sdk_target(graphql_url: str, api_key: str) -> Iterator[None]:
    """Point the runpod SDK's GraphQL calls at `graphql_url` with `api_key`, as its own settings do."""
    saved_url, saved_key = os.environ.get("RUNPOD_API_BASE_URL"), runpod.api_key
    os.environ["RUNPOD_API_BASE_URL"] = graphql_url
    runpod.api_key = api_key
    try:
        yield
    finally:
        runpod.api_key = saved_key
        if saved_url is None:
            os.environ.pop("RUNPOD_API_BASE_URL", None)
        else:
            os.environ["RUNPOD_API_BASE_URL"] = saved_url


class RunPodApi:
    """RunPod's REST API at `rest_url` and its GraphQL API at `graphql_url`, with one API key."""

    def __init__(self, rest_url: str, graphql_url: str, api_key: str) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.graphql_url = graphql_url.rstrip("/")
        self._api_key = api_key
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def url(self, request: Request) -> str:
        """The full URL of `request`."""
        return (self.rest_url if request.api == "rest" else self.graphql_url) + request.path

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None, action: str) -> Any:
        try:
            response = self._http.request(method, url, json=body)
        except httpx.HTTPError as exc:
            reason = type(exc).__name__
            raise DeployError(f"{action}: RunPod could not be reached at {url} ({reason}).") from exc
        if response.status_code == 401:
            raise DeployError(f"{action}: RunPod refused the API key (HTTP 401); check RUNPOD_API_KEY.")
        if response.status_code >= 400:
            raise DeployError(f"{action}: RunPod answered HTTP {response.status_code}: {response.text[:500]}")
        try:
            return response.json()
        except ValueError as exc:
            raise DeployError(f"{action}: RunPod's answer is not JSON.") from exc

    def names(self, kind: str) -> dict[str, str]:
        """Name -> id of the account's templates or endpoints (`kind`: templates or endpoints)."""
        listed = self._send("GET", f"{self.rest_url}/{kind}", None, f"list {kind}")
        if not isinstance(listed, list):
            raise DeployError(f"list {kind}: RunPod's answer is not a list.")
        found: dict[str, str] = {}
        for item in listed:
            if isinstance(item, dict) and isinstance(item.get("name"), str) and item.get("id"):
                found.setdefault(item["name"], str(item["id"]))
        return found

    def call(self, request: Request) -> str:
        """Send `request`; the id of the template or endpoint it made or updated."""
        if request.sdk_arguments:
            try:
                with _sdk_target(self.graphql_url, self._api_key):
                    answer = ctl_commands.create_template(**request.sdk_arguments)
            except (runpod_error.RunPodError, OSError, ValueError, KeyError) as exc:
                raise DeployError(f"{request.action}: {type(exc).__name__}: {exc}") from exc
        else:
            answer = self._send(request.method, self.url(request), request.body, request.action)
            if request.api == "graphql":
                if not isinstance(answer, dict) or answer.get("errors"):
                    errors = answer.get("errors") if isinstance(answer, dict) else answer
                    raise DeployError(f"{request.action}: RunPod's GraphQL answered {errors}")
                answer = (answer.get("data") or {}).get("saveEndpoint")
        if not isinstance(answer, dict) or not answer.get("id"):
            raise DeployError(f"{request.action}: RunPod's answer names no id.")
        return str(answer["id"])
