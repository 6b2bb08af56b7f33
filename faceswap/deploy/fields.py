"""RunPod's published request fields, and a check of a request body against them.

REST (https://rest.runpod.io/v1, RunPod's OpenAPI document `api-reference/openapi.json` in runpod/docs):
`TemplateCreateInput` (POST /templates), `TemplateUpdateInput` (PATCH /templates/{id}),
`EndpointCreateInput` (POST /endpoints), `EndpointUpdateInput` (PATCH /endpoints/{id}).

GraphQL (https://api.runpod.io/graphql): `saveTemplate(input: SaveTemplateInput)` as the runpod SDK's
`create_template` sends it, and `saveEndpoint(input: EndpointInput)` with the fields RunPod's GraphQL
reference, the runpod SDK and RunPod's Flash send. REST v1 has no endpoint type, so a load-balancing
endpoint (`type: "LB"`) can only be made through `saveEndpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CUDA_VERSIONS",
    "ENDPOINT_CREATE",
    "ENDPOINT_INPUT",
    "ENDPOINT_UPDATE",
    "GPU_TYPE_IDS",
    "SAVE_TEMPLATE_INPUT",
    "TEMPLATE_CREATE",
    "TEMPLATE_UPDATE",
    "Field",
    "Schema",
    "cuda_versions_from",
]

# The `allowedCudaVersions` / `minCudaVersion` enum of RunPod's OpenAPI document, newest first.
CUDA_VERSIONS: tuple[str, ...] = (
    "13.0",
    "12.9",
    "12.8",
    "12.7",
    "12.6",
    "12.5",
    "12.4",
    "12.3",
    "12.2",
    "12.1",
    "12.0",
    "11.8",
)

# The `gpuTypeIds` enum of EndpointCreateInput.
GPU_TYPE_IDS: tuple[str, ...] = (
    "NVIDIA GeForce RTX 4090",
    "NVIDIA A40",
    "NVIDIA RTX A5000",
    "NVIDIA GeForce RTX 5090",
    "NVIDIA H100 80GB HBM3",
    "NVIDIA GeForce RTX 3090",
    "NVIDIA RTX A4500",
    "NVIDIA L40S",
    "NVIDIA H200",
    "NVIDIA L4",
    "NVIDIA RTX 6000 Ada Generation",
    "NVIDIA A100-SXM4-80GB",
    "NVIDIA RTX 4000 Ada Generation",
    "NVIDIA RTX A6000",
    "NVIDIA A100 80GB PCIe",
    "NVIDIA RTX 2000 Ada Generation",
    "NVIDIA RTX A4000",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition",
    "NVIDIA H100 PCIe",
    "NVIDIA H100 NVL",
    "NVIDIA L40",
    "NVIDIA B200",
    "NVIDIA GeForce RTX 3080 Ti",
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
    "NVIDIA GeForce RTX 3080",
    "NVIDIA GeForce RTX 3070",
    "AMD Instinct MI300X OAM",
    "NVIDIA GeForce RTX 4080 SUPER",
    "Tesla V100-PCIE-16GB",
    "Tesla V100-SXM2-32GB",
    "NVIDIA RTX 5000 Ada Generation",
    "NVIDIA GeForce RTX 4070 Ti",
    "NVIDIA RTX 4000 SFF Ada Generation",
    "NVIDIA GeForce RTX 3090 Ti",
    "NVIDIA RTX A2000",
    "NVIDIA GeForce RTX 4080",
    "NVIDIA A30",
    "NVIDIA GeForce RTX 5080",
    "Tesla V100-FHHL-16GB",
    "NVIDIA H200 NVL",
    "Tesla V100-SXM2-16GB",
    "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition",
    "NVIDIA A5000 Ada",
    "Tesla V100-PCIE-32GB",
    "Tesla T4",
    "NVIDIA RTX A30",
)

# GraphQL `gpuIds` pools (RunPod's GPU categories, as RunPod's Flash names them).
GPU_POOLS: tuple[str, ...] = (
    "AMPERE_16",
    "AMPERE_24",
    "AMPERE_48",
    "AMPERE_80",
    "ADA_24",
    "ADA_32_PRO",
    "ADA_48_PRO",
    "ADA_80_PRO",
    "HOPPER_141",
    "BLACKWELL_96",
    "BLACKWELL_180",
)
DATA_CENTER_IDS: tuple[str, ...] = (
    "EU-RO-1",
    "CA-MTL-1",
    "EU-SE-1",
    "US-IL-1",
    "EUR-IS-1",
    "EU-CZ-1",
    "US-TX-3",
    "EUR-IS-2",
    "US-KS-2",
    "US-GA-2",
    "US-WA-1",
    "US-TX-1",
    "CA-MTL-3",
    "EU-NL-1",
    "US-TX-4",
    "US-CA-2",
    "US-NC-1",
    "OC-AU-1",
    "US-DE-1",
    "EUR-IS-3",
    "CA-MTL-2",
    "AP-JP-1",
    "EUR-NO-1",
    "EU-FR-1",
    "US-KS-3",
    "US-GA-1",
)
CPU_FLAVORS: tuple[str, ...] = ("cpu3c", "cpu3g", "cpu5c", "cpu5g")
SCALER_TYPES: tuple[str, ...] = ("QUEUE_DELAY", "REQUEST_COUNT")


@dataclass(frozen=True)
class Field:
    """One field: its JSON type, the values it may take (items' values for arrays) and its bounds."""

    kind: type | tuple[type, ...]
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    items: type | None = None


def _string(*choices: str) -> Field:
    return Field(str, choices)


def _strings(*choices: str) -> Field:
    return Field(list, choices, items=str)


def _integer(minimum: int | None = None, maximum: int | None = None) -> Field:
    return Field(int, minimum=minimum, maximum=maximum)


BOOLEAN = Field(bool)
ENV = Field(dict, items=str)
STRING = _string()
STRINGS = _strings()


@dataclass(frozen=True)
class Schema:
    """A request body's fields, which of them are required, and where RunPod documents them."""

    name: str
    fields: Mapping[str, Field]
    required: tuple[str, ...] = ()

    def problems(self, body: Mapping[str, Any]) -> list[str]:
        """Every way `body` departs from the schema: unknown or missing fields, wrong types or values."""
        missing = [name for name in self.required if name not in body]
        found = [f"{self.name}: missing required field {name!r}" for name in missing]
        for name, value in body.items():
            spec = self.fields.get(name)
            if spec is None:
                found.append(f"{self.name}: {name!r} is not one of RunPod's fields")
            else:
                found.extend(f"{self.name}.{name}: {problem}" for problem in _value_problems(spec, value))
        return found


def _value_problems(spec: Field, value: Any) -> list[str]:
    if isinstance(value, bool) and spec.kind is not bool:
        return [f"expected {_kind_name(spec.kind)}, got a boolean"]
    if not isinstance(value, spec.kind):
        return [f"expected {_kind_name(spec.kind)}, got {type(value).__name__}"]
    values: list[Any] = [value]
    if isinstance(value, list):
        values = value
    elif isinstance(value, dict):
        values = list(value.values())
    problems = []
    if spec.items is not None:
        wrong = [item for item in values if not isinstance(item, spec.items)]
        problems += [f"{item!r} is not a {spec.items.__name__}" for item in wrong]
    if spec.choices:
        problems += [f"{item!r} is not one of RunPod's values" for item in values if item not in spec.choices]
    if isinstance(value, int) and spec.minimum is not None and value < spec.minimum:
        problems.append(f"{value} is below the minimum {spec.minimum}")
    if isinstance(value, int) and spec.maximum is not None and value > spec.maximum:
        problems.append(f"{value} is above the maximum {spec.maximum}")
    return problems


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(item, item.__name__) for item in kinds)


_TEMPLATE_COMMON: dict[str, Field] = {
    "containerDiskInGb": _integer(),
    "containerRegistryAuthId": STRING,
    "dockerEntrypoint": STRINGS,
    "dockerStartCmd": STRINGS,
    "env": ENV,
    "imageName": STRING,
    "isPublic": BOOLEAN,
    "name": STRING,
    "ports": STRINGS,
    "readme": STRING,
    "volumeInGb": _integer(),
    "volumeMountPath": STRING,
}
TEMPLATE_CREATE = Schema(
    "TemplateCreateInput",
    {**_TEMPLATE_COMMON, "category": _string("NVIDIA", "AMD", "CPU"), "isServerless": BOOLEAN},
    required=("name", "imageName"),
)
TEMPLATE_UPDATE = Schema("TemplateUpdateInput", _TEMPLATE_COMMON)

_ENDPOINT_COMMON: dict[str, Field] = {
    "allowedCudaVersions": _strings(*CUDA_VERSIONS),
    "cpuFlavorIds": _strings(*CPU_FLAVORS),
    "dataCenterIds": _strings(*DATA_CENTER_IDS),
    "executionTimeoutMs": _integer(),
    "flashboot": BOOLEAN,
    "gpuCount": _integer(minimum=1),
    "gpuTypeIds": _strings(*GPU_TYPE_IDS),
    "idleTimeout": _integer(1, 3600),
    "minCudaVersion": _string(*CUDA_VERSIONS),
    "name": STRING,
    "networkVolumeId": STRING,
    "networkVolumeIds": STRINGS,
    "scalerType": _string(*SCALER_TYPES),
    "scalerValue": _integer(minimum=1),
    "templateId": STRING,
    "vcpuCount": _integer(),
    "workersMax": _integer(minimum=0),
    "workersMin": _integer(minimum=0),
}
ENDPOINT_CREATE = Schema(
    "EndpointCreateInput",
    {**_ENDPOINT_COMMON, "computeType": _string("GPU", "CPU")},
    required=("templateId",),
)
ENDPOINT_UPDATE = Schema("EndpointUpdateInput", _ENDPOINT_COMMON)

# saveTemplate's input as runpod.api.mutations.templates.generate_pod_template writes it.
SAVE_TEMPLATE_INPUT = Schema(
    "SaveTemplateInput",
    {
        "containerDiskInGb": _integer(),
        "containerRegistryAuthId": STRING,
        "dockerArgs": STRING,
        "env": Field(list, items=dict),
        "id": STRING,
        "imageName": STRING,
        "isPublic": BOOLEAN,
        "isServerless": BOOLEAN,
        "name": STRING,
        "ports": STRING,
        "readme": STRING,
        "startSsh": BOOLEAN,
        "volumeInGb": _integer(),
        "volumeMountPath": STRING,
    },
    required=("name", "imageName"),
)

# saveEndpoint's input: `id` updates the endpoint it names, no `id` creates one. `gpuIds` and
# `allowedCudaVersions` are comma-separated strings here, not arrays.
ENDPOINT_INPUT = Schema(
    "EndpointInput",
    {
        "allowedCudaVersions": STRING,
        "executionTimeoutMs": _integer(),
        "flashboot": BOOLEAN,
        "gpuCount": _integer(minimum=1),
        "gpuIds": STRING,
        "id": STRING,
        "idleTimeout": _integer(1, 3600),
        "locations": STRING,
        "name": STRING,
        "networkVolumeId": STRING,
        "scalerType": _string(*SCALER_TYPES),
        "scalerValue": _integer(minimum=1),
        "templateId": STRING,
        "type": _string("QB", "LB"),
        "workersMax": _integer(minimum=0),
        "workersMin": _integer(minimum=0),
    },
    required=("name", "templateId", "gpuIds"),
)


def cuda_versions_from(oldest: str) -> list[str]:
    """Every CUDA version RunPod lists from `oldest` on, oldest first."""

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split("."))

    return sorted((v for v in CUDA_VERSIONS if key(v) >= key(oldest)), key=key)
