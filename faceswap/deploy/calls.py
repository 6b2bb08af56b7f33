"""The calls that make or update a mode's template and endpoint, as RunPod receives them.

Which API each goes through:
- template, new: the runpod SDK's `create_template` (GraphQL saveTemplate) when it covers every field given,
  else REST `POST /templates`;
- template, existing: REST `PATCH /templates/{id}` (the SDK cannot update a template);
- queue endpoint: REST `POST /endpoints` / `PATCH /endpoints/{id}` (the SDK's `create_endpoint` takes GPU
  pools instead of `gpuTypeIds` and has no `executionTimeoutMs`, and it cannot update);
- load-balancing endpoint: GraphQL `saveEndpoint` with `type: "LB"` (REST v1 has no endpoint type; the SDK's
  `create_endpoint` sends no type), with `id` when it exists.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runpod.api.mutations.templates import generate_pod_template

from faceswap.deploy.config import Mode
from faceswap.deploy.fields import ENDPOINT_UPDATE, TEMPLATE_UPDATE

__all__ = [
    "SAVE_ENDPOINT",
    "Request",
    "endpoint_request",
    "sdk_template_arguments",
    "template_request",
]

SAVE_ENDPOINT = (
    "mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) "
    "{ id name templateId type gpuIds workersMin workersMax } }"
)
# TemplateCreateInput field -> the keyword argument of runpod.api.ctl_commands.create_template.
SDK_TEMPLATE_ARGUMENTS = {
    "name": "name",
    "imageName": "image_name",
    "dockerStartCmd": "docker_start_cmd",
    "containerDiskInGb": "container_disk_in_gb",
    "volumeInGb": "volume_in_gb",
    "volumeMountPath": "volume_mount_path",
    "ports": "ports",
    "env": "env",
    "isServerless": "is_serverless",
    "containerRegistryAuthId": "registry_auth_id",
}


@dataclass(frozen=True)
class Request:
    """One call: `api` is rest or graphql, `path` is relative to that API's base URL."""

    action: str
    api: str
    method: str
    path: str
    body: Mapping[str, Any]
    via: str
    sdk_arguments: Mapping[str, Any] = field(default_factory=dict)


def sdk_template_arguments(template: Mapping[str, Any]) -> dict[str, Any] | None:
    """create_template's keyword arguments for `template`, or None when it lacks a field that is given."""
    if set(template) - set(SDK_TEMPLATE_ARGUMENTS):
        return None
    arguments: dict[str, Any] = {}
    for name, value in template.items():
        if name == "dockerStartCmd":
            value = shlex.join(value)
        elif name == "ports":
            value = ",".join(value)
        arguments[SDK_TEMPLATE_ARGUMENTS[name]] = value
    return arguments


def template_request(mode: Mode, existing_id: str | None) -> Request:
    """Create the mode's template, or bring the existing one (same name) up to date."""
    name = mode.template["name"]
    if existing_id is not None:
        body = {key: value for key, value in mode.template.items() if key in TEMPLATE_UPDATE.fields}
        return Request(f"update template {name}", "rest", "PATCH", f"/templates/{existing_id}", body, "REST")
    arguments = sdk_template_arguments(mode.template)
    if arguments is None:
        return Request(f"create template {name}", "rest", "POST", "/templates", dict(mode.template), "REST")
    return Request(
        f"create template {name}",
        "graphql",
        "POST",
        "/graphql",
        {"query": generate_pod_template(**arguments)},
        "runpod.api.ctl_commands.create_template",
        arguments,
    )


def endpoint_request(mode: Mode, template_id: str, existing_id: str | None) -> Request:
    """Create the mode's endpoint on `template_id`, or bring the existing one (same name) up to date."""
    name = mode.endpoint["name"]
    verb = "create" if existing_id is None else "update"
    body: dict[str, Any] = {**mode.endpoint, "templateId": template_id}
    if mode.load_balancing:
        if existing_id is not None:
            body = {"id": existing_id, **body}
        payload = {"query": SAVE_ENDPOINT, "variables": {"input": body}}
        return Request(f"{verb} endpoint {name}", "graphql", "POST", "/graphql", payload, "GraphQL")
    if existing_id is None:
        return Request(f"{verb} endpoint {name}", "rest", "POST", "/endpoints", body, "REST")
    body = {key: value for key, value in body.items() if key in ENDPOINT_UPDATE.fields}
    return Request(f"{verb} endpoint {name}", "rest", "PATCH", f"/endpoints/{existing_id}", body, "REST")
