"""runpod_debug.py deploy: runpod-config.yaml to RunPod's API, printed (--dry-run) and sent to a fake."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from faceswap.deploy.command import main
from faceswap.deploy.config import load_config
from faceswap.deploy.fields import (
    ENDPOINT_CREATE,
    ENDPOINT_INPUT,
    SAVE_TEMPLATE_INPUT,
    TEMPLATE_CREATE,
    TEMPLATE_UPDATE,
    cuda_versions_from,
)
from faceswap.errors import ConfigError
from tests.runpod_fake import Server, graphql_input
from tests.servers import ROOT

CONFIG = ROOT / "runpod-config.yaml"
KEY = "rp_test_key_never_printed"


def run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, env, out), out.getvalue()


def dry_run(*extra: str) -> list[dict[str, Any]]:
    code, out = run(["--dry-run", *extra], {"RUNPOD_API_KEY": KEY})
    assert code == 0
    assert KEY not in out
    return json.loads(out)


def body_problems(call: dict[str, Any]) -> list[str]:
    """The call's body checked against the RunPod fields of what it calls."""
    body = call["body"]
    if call["url"].endswith("/graphql"):
        if "saveTemplate" in body["query"]:
            return SAVE_TEMPLATE_INPUT.problems(graphql_input(body["query"], "saveTemplate"))
        return ENDPOINT_INPUT.problems(body["variables"]["input"])
    schema = TEMPLATE_CREATE if call["url"].endswith("/templates") else ENDPOINT_CREATE
    return schema.problems(body)


def test_dry_run_prints_valid_bodies_for_both_modes() -> None:
    calls = dry_run()
    assert [call["action"] for call in calls] == [
        "create template face-swap-queue",
        "create endpoint face-swap-queue",
        "create template face-swap-lb",
        "create endpoint face-swap-lb",
    ]
    for call in calls:
        assert body_problems(call) == [], call["action"]
        assert call["headers"]["Authorization"] == "Bearer <RUNPOD_API_KEY>"


def test_dry_run_routes_each_call_through_the_api_that_covers_its_fields() -> None:
    queue_template, queue_endpoint, lb_template, lb_endpoint = dry_run()
    assert queue_template["via"] == lb_template["via"] == "runpod.api.ctl_commands.create_template"
    assert queue_template["url"] == "https://api.runpod.io/graphql"
    assert queue_endpoint["url"] == "https://rest.runpod.io/v1/endpoints"
    assert queue_endpoint["body"]["executionTimeoutMs"] == 120_000
    assert lb_endpoint["url"] == "https://api.runpod.io/graphql"
    assert lb_endpoint["body"]["variables"]["input"]["type"] == "LB"
    assert 'dockerArgs: "python handler.py"' in queue_template["body"]["query"]
    assert 'ports: "8000/http,8001/http"' in lb_template["body"]["query"]


def test_dry_run_needs_no_key_and_takes_the_base_urls_from_flags() -> None:
    code, out = run(
        [
            "--dry-run",
            "--mode",
            "queue",
            "--rest-url",
            "http://127.0.0.1:9/v1",
            "--graphql-url",
            "http://127.0.0.1:9",
        ],
        {},
    )
    assert code == 0
    assert [call["url"] for call in json.loads(out)] == [
        "http://127.0.0.1:9/graphql",
        "http://127.0.0.1:9/v1/endpoints",
    ]


def test_dry_run_takes_the_base_urls_from_the_environment() -> None:
    env = {"RUNPOD_REST_API_URL": "http://127.0.0.1:8/v1", "RUNPOD_API_BASE_URL": "http://127.0.0.1:8"}
    code, out = run(["--dry-run", "--mode", "load_balancing"], env)
    assert code == 0
    assert {call["url"] for call in json.loads(out)} == {"http://127.0.0.1:8/graphql"}


def test_the_image_flag_replaces_every_template_image() -> None:
    calls = dry_run("--image", "registry.example/face-swap:1.2.3")
    templates = [call for call in calls if "template" in call["action"]]
    assert all('imageName: "registry.example/face-swap:1.2.3"' in call["body"]["query"] for call in templates)


def test_the_config_allows_cuda_13_0_and_every_later_version_runpod_lists() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    allowed = cuda_versions_from("13.0")
    assert config["queue"]["endpoint"]["allowedCudaVersions"] == allowed
    assert config["load_balancing"]["endpoint"]["allowedCudaVersions"] == ",".join(allowed)


def test_the_config_holds_only_runpod_fields() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    for mode in ("queue", "load_balancing"):
        assert set(config[mode]) == {"template", "endpoint"}
        assert set(config[mode]["template"]) <= set(TEMPLATE_CREATE.fields)
    assert set(config["queue"]["endpoint"]) <= set(ENDPOINT_CREATE.fields)
    assert set(config["load_balancing"]["endpoint"]) <= set(ENDPOINT_INPUT.fields)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["queue"]["template"].update(memoryInGb=4), "'memoryInGb' is not one of RunPod's fields"),
        (lambda c: c["queue"]["endpoint"].update(allowedCudaVersions=["14.9"]), "'14.9' is not one of"),
        (lambda c: c["queue"]["endpoint"].update(templateId="x"), "leave templateId out"),
        (lambda c: c["load_balancing"]["endpoint"].update(type="QB"), "`type` must be LB"),
        (lambda c: c["queue"]["template"]["env"].update(A='say "hi"'), "quotes"),
        (lambda c: c.update(extra={}), "nothing else"),
    ],
)
def test_a_config_outside_runpods_fields_is_refused(tmp_path: Path, change: Any, named: str) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    change(config)
    path = tmp_path / "runpod-config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        load_config(path)


def test_a_real_run_without_a_key_stops_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["--rest-url", "http://127.0.0.1:9/v1"], {})
    assert code == 2
    assert out == ""
    assert "RUNPOD_API_KEY" in capsys.readouterr().err


def deploy_env(url: str) -> dict[str, str]:
    return {"RUNPOD_API_KEY": KEY, "RUNPOD_REST_API_URL": f"{url}/v1", "RUNPOD_API_BASE_URL": url}


def test_a_real_run_creates_then_a_second_updates_without_duplicates() -> None:
    with Server(KEY) as fake:
        code, first = run([], deploy_env(fake.url))
        assert code == 0, first
        assert len(fake.templates) == 2
        assert len(fake.endpoints) == 2
        ids = (set(fake.templates), set(fake.endpoints))
        fake.calls.clear()

        code, second = run([], deploy_env(fake.url))
        assert code == 0, second
        assert (set(fake.templates), set(fake.endpoints)) == ids
    assert KEY not in first + second
    assert first.count(": create ") == 4
    assert second.count(": update ") == 4
    sent = [(method, path) for method, path, _ in fake.calls]
    queue_template, lb_template = sorted(fake.templates)
    queue_endpoint = next(key for key, value in fake.endpoints.items() if value["name"] == "face-swap-queue")
    assert sent == [
        ("GET", "/v1/templates"),
        ("GET", "/v1/endpoints"),
        ("PATCH", f"/v1/templates/{queue_template}"),
        ("PATCH", f"/v1/endpoints/{queue_endpoint}"),
        ("PATCH", f"/v1/templates/{lb_template}"),
        ("POST", "/graphql"),
    ]
    saved = fake.calls[-1][2]["variables"]["input"]
    assert saved["id"] in fake.endpoints
    assert saved["type"] == "LB"
    assert TEMPLATE_UPDATE.problems(fake.calls[2][2]) == []


def test_a_real_run_prints_the_runpod_endpoint_urls_for_the_web_client() -> None:
    with Server(KEY) as fake:
        code, out = run([], deploy_env(fake.url))
        ids = {value["name"]: key for key, value in fake.endpoints.items()}
    assert code == 0
    assert f"queue: RUNPOD_ENDPOINT=https://api.runpod.ai/v2/{ids['face-swap-queue']}/runsync" in out
    assert f"load_balancing: RUNPOD_ENDPOINT=https://{ids['face-swap-lb']}.api.runpod.ai/runsync" in out


def test_a_refused_key_fails_the_run_without_printing_it(capsys: pytest.CaptureFixture[str]) -> None:
    with Server("another key") as fake:
        code, out = run([], deploy_env(fake.url))
    err = capsys.readouterr().err
    assert code == 1
    assert "HTTP 401" in err
    assert KEY not in out + err


def test_runpod_debug_dispatches_deploy() -> None:
    result = subprocess.run(
        [sys.executable, "runpod_debug.py", "deploy", "--dry-run", "--mode", "queue"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "RUNPOD_API_KEY": KEY},
    )
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    assert len(json.loads(result.stdout)) == 2


# The fields of RunPod Hub's hub.json and tests.json (RunPod's Hub publishing guide).
HUB_FIELDS = {"title", "description", "type", "category", "iconUrl", "config"}
HUB_CONFIG_FIELDS = {
    "runsOn",
    "containerDiskInGb",
    "cpuFlavor",
    "gpuCount",
    "gpuIds",
    "allowedCudaVersions",
    "env",
    "presets",
}
HUB_TEST_FIELDS = {"name", "input", "timeout"}
HUB_TEST_CONFIG_FIELDS = {"gpuTypeId", "gpuCount", "cpuFlavor", "env", "allowedCudaVersions"}


def test_hub_json_holds_the_hub_fields_and_matches_the_queue_config() -> None:
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())
    queue = yaml.safe_load(CONFIG.read_text())["queue"]
    assert set(hub) <= HUB_FIELDS
    assert {"title", "description", "type", "category", "config"} <= set(hub)
    assert (hub["type"], hub["category"]) == ("serverless", "image")
    config = hub["config"]
    assert set(config) <= HUB_CONFIG_FIELDS
    assert config["runsOn"] == "GPU"
    assert config["containerDiskInGb"] == queue["template"]["containerDiskInGb"]
    assert config["allowedCudaVersions"] == queue["endpoint"]["allowedCudaVersions"]
    for variable in config["env"]:
        assert set(variable) in ({"key", "value"}, {"key", "input"})
        if "value" in variable:
            assert queue["template"]["env"][variable["key"]] == variable["value"]


def test_tests_json_holds_the_hub_fields_and_the_sample_input() -> None:
    tests = json.loads((ROOT / ".runpod" / "tests.json").read_text())
    sample = json.loads((ROOT / "test_input.json").read_text())
    assert set(tests) == {"tests", "config"}
    assert all(set(test) <= HUB_TEST_FIELDS and {"name", "input"} <= set(test) for test in tests["tests"])
    assert tests["tests"][0]["input"] == sample["input"]
    assert set(tests["config"]) <= HUB_TEST_CONFIG_FIELDS
    assert tests["config"]["gpuTypeId"] in ENDPOINT_CREATE.fields["gpuTypeIds"].choices
    assert tests["config"]["allowedCudaVersions"] == cuda_versions_from("13.0")


def test_the_deploy_modules_pin_their_public_names() -> None:
    import faceswap.deploy.api
    import faceswap.deploy.calls
    import faceswap.deploy.command
    import faceswap.deploy.config
    import faceswap.deploy.fields

    assert faceswap.deploy.api.__all__ == [
        "DEFAULT_GRAPHQL_URL",
        "DEFAULT_REST_URL",
        "RunPodApi",
    ]
    assert faceswap.deploy.calls.__all__ == [
        "SAVE_ENDPOINT",
        "Request",
        "endpoint_request",
        "sdk_template_arguments",
        "template_request",
    ]
    assert faceswap.deploy.command.__all__ == ["dry_run_calls", "invoke_url", "main", "parser"]
    assert faceswap.deploy.config.__all__ == ["MODES", "DeployConfig", "Mode", "load_config"]
    assert faceswap.deploy.fields.__all__ == [
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
