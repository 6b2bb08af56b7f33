"""``python runpod_debug.py deploy [--dry-run]``: runpod-config.yaml made real on RunPod, both endpoint types.

For each mode (queue, load_balancing) it looks up the account's templates and endpoints by name, then
creates what is missing and updates what exists, so running it twice updates and never duplicates.
``--dry-run`` sends nothing and needs no key: it prints, as JSON, the calls a first deploy makes.
The API key comes from RUNPOD_API_KEY and is never printed. The API base URLs come from
``--rest-url`` / RUNPOD_REST_API_URL and ``--graphql-url`` / RUNPOD_API_BASE_URL (the runpod SDK's own).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from faceswap.deploy.api import DEFAULT_GRAPHQL_URL, DEFAULT_REST_URL, RunPodApi
from faceswap.deploy.calls import Request, endpoint_request, template_request
from faceswap.deploy.config import MODES, Mode, load_config
from faceswap.errors import ConfigError, DeployError

__all__ = ["dry_run_calls", "invoke_url", "main", "parser"]

REDACTED = "Bearer <RUNPOD_API_KEY>"
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "runpod-config.yaml"


def parser() -> argparse.ArgumentParser:
    """The deploy command's arguments."""
    parse = argparse.ArgumentParser(
        prog="python runpod_debug.py deploy",
        description="Create or update the RunPod templates and endpoints that runpod-config.yaml describes.",
    )
    parse.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="default: runpod-config.yaml")
    parse.add_argument("--mode", choices=MODES, action="append", help="only this endpoint type (repeatable)")
    parse.add_argument("--image", help="the image to deploy (replaces every template's imageName)")
    parse.add_argument("--dry-run", action="store_true", help="print the calls as JSON; send nothing")
    parse.add_argument(
        "--rest-url", help=f"RunPod's REST API (RUNPOD_REST_API_URL, default {DEFAULT_REST_URL})"
    )
    parse.add_argument(
        "--graphql-url", help=f"RunPod's GraphQL API (RUNPOD_API_BASE_URL, default {DEFAULT_GRAPHQL_URL})"
    )
    return parse


def invoke_url(mode: Mode, endpoint_id: str) -> str:
    """The URL the web client's RUNPOD_ENDPOINT takes for this endpoint."""
    if mode.load_balancing:
        return f"https://{endpoint_id}.api.runpod.ai/runsync"
    return f"https://api.runpod.ai/v2/{endpoint_id}/runsync"


def _shown(request: Request, api: RunPodApi) -> dict[str, Any]:
    return {
        "action": request.action,
        "via": request.via,
        "method": request.method,
        "url": api.url(request),
        "headers": {"Authorization": REDACTED, "Content-Type": "application/json"},
        "body": request.body,
    }


def dry_run_calls(modes: Sequence[Mode], api: RunPodApi) -> list[dict[str, Any]]:
    """The calls of a first deploy, as printed: the endpoint's templateId names the template's call."""
    shown: list[dict[str, Any]] = []
    for mode in modes:
        shown.append(_shown(template_request(mode, None), api))
        placeholder = f"<id from: create template {mode.template['name']}>"
        shown.append(_shown(endpoint_request(mode, placeholder, None), api))
    return shown


def deploy(modes: Sequence[Mode], api: RunPodApi, out: TextIO) -> None:
    """Create or update each mode's template and endpoint; one line per call on `out`."""
    templates = api.names("templates")
    endpoints = api.names("endpoints")
    for mode in modes:
        request = template_request(mode, templates.get(mode.template["name"]))
        template_id = api.call(request)
        out.write(f"{mode.key}: {request.action}: id {template_id} ({request.via})\n")
        request = endpoint_request(mode, template_id, endpoints.get(mode.endpoint["name"]))
        endpoint_id = api.call(request)
        out.write(f"{mode.key}: {request.action}: id {endpoint_id} ({request.via})\n")
        out.write(f"{mode.key}: RUNPOD_ENDPOINT={invoke_url(mode, endpoint_id)}\n")


def main(argv: Sequence[str], env: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    """Run the command; 0 on success, 1 when RunPod refused a call, 2 for a bad config or missing key."""
    args = parser().parse_args(argv)
    rest_url = args.rest_url or env.get("RUNPOD_REST_API_URL") or DEFAULT_REST_URL
    graphql_url = args.graphql_url or env.get("RUNPOD_API_BASE_URL") or DEFAULT_GRAPHQL_URL
    try:
        modes = load_config(args.config, args.image).select(tuple(args.mode or ()))
    except ConfigError as exc:
        sys.stderr.write(f"deploy: {exc}\n")
        return 2
    api_key = env.get("RUNPOD_API_KEY", "")
    if not args.dry_run and not api_key:
        sys.stderr.write("deploy: set RUNPOD_API_KEY (RunPod console, Settings) or use --dry-run.\n")
        return 2
    api = RunPodApi(rest_url, graphql_url, api_key)
    try:
        if args.dry_run:
            out.write(json.dumps(dry_run_calls(modes, api), indent=2) + "\n")
        else:
            deploy(modes, api, out)
    except DeployError as exc:
        sys.stderr.write(f"deploy: {exc}\n")
        return 1
    finally:
        api.close()
    return 0
