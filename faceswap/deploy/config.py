"""runpod-config.yaml: per endpoint type, one RunPod template and one endpoint, in RunPod's own fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from faceswap.deploy.fields import ENDPOINT_CREATE, ENDPOINT_INPUT, TEMPLATE_CREATE, Schema
from faceswap.errors import ConfigError

__all__ = [
    "MODES",
    "DeployConfig",
    "Mode",
    "load_config",
]

MODES = ("queue", "load_balancing")
PLACEHOLDER_ID = "<template id>"
# The runpod SDK writes template values into its GraphQL mutation without escaping them.
UNSAFE_FOR_SDK = ('"', "\\", "\n", "\r")


@dataclass(frozen=True)
class Mode:
    """One endpoint type: its template (TemplateCreateInput) and endpoint fields (templateId left out)."""

    key: str
    template: Mapping[str, Any]
    endpoint: Mapping[str, Any]

    @property
    def load_balancing(self) -> bool:
        """True for the load-balancing endpoint, made through GraphQL's saveEndpoint."""
        return self.key == "load_balancing"

    @property
    def endpoint_schema(self) -> Schema:
        """The fields the endpoint block is written in."""
        return ENDPOINT_INPUT if self.load_balancing else ENDPOINT_CREATE


@dataclass(frozen=True)
class DeployConfig:
    """The modes of runpod-config.yaml, in file order."""

    modes: tuple[Mode, ...]

    def select(self, names: tuple[str, ...]) -> tuple[Mode, ...]:
        """The modes named (all when none are)."""
        return tuple(mode for mode in self.modes if not names or mode.key in names)


def _block(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a mapping of RunPod's fields.")
    return dict(value)


def _mode(key: str, data: Any, image: str | None) -> Mode:
    if not isinstance(data, dict) or set(data) != {"template", "endpoint"}:
        raise ConfigError(f"{key}: give exactly two blocks, `template` and `endpoint`.")
    template = _block(data, "template", key)
    endpoint = _block(data, "endpoint", key)
    if image:
        template["imageName"] = image
    if "templateId" in endpoint:
        raise ConfigError(f"{key}.endpoint: leave templateId out; deploy fills in the template it made.")
    if "env" in template:
        template["env"] = {str(name): str(value) for name, value in (template["env"] or {}).items()}
    mode = Mode(key, template, endpoint)
    problems = TEMPLATE_CREATE.problems(template)
    problems += mode.endpoint_schema.problems({**endpoint, "templateId": PLACEHOLDER_ID})
    if mode.load_balancing and endpoint.get("type") != "LB":
        problems.append(f"{key}.endpoint: `type` must be LB (a load-balancing endpoint).")
    if key == "queue" and template.get("ports"):
        problems.append(f"{key}.template: a queue worker serves no ports; drop `ports`.")
    texts = [str(value) for value in template.values() if not isinstance(value, dict | list)]
    texts += [str(item) for value in template.values() if isinstance(value, list) for item in value]
    texts += [f"{name}={value}" for name, value in template.get("env", {}).items()]
    if any(mark in text for text in texts for mark in UNSAFE_FOR_SDK):
        problems.append(f"{key}.template: values may not contain quotes, backslashes or line breaks.")
    if problems:
        raise ConfigError("runpod-config.yaml does not match RunPod's API:\n  " + "\n  ".join(problems))
    return mode


def load_config(path: Path, image: str | None = None) -> DeployConfig:
    """Read and check `path`; `image` replaces every template's imageName."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not data or set(data) - set(MODES):
        raise ConfigError(f"{path}: the top level holds {' and/or '.join(MODES)}, nothing else.")
    return DeployConfig(tuple(_mode(key, data[key], image) for key in MODES if key in data))
