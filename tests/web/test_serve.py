"""``lookalike serve`` as deployed: the systemd unit's command with its environment file, graceful SIGTERM,
no secret in the log, and the warning for an address beyond this machine."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.integration.runner import run_cli
from tests.web.conftest import API_KEY, LOOKALIKE, free_port, small_image_bytes

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def unit_command() -> list[str]:
    lines = [line for line in (DEPLOY / "lookalike.service").read_text().splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1
    return shlex.split(lines[0].removeprefix("ExecStart="))


def env_file() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "lookalike.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_the_unit_and_env_file_cover_every_option() -> None:
    import dataclasses

    from lookalike.web import ServeConfig

    assert unit_command()[1:] == ["serve"] and unit_command()[0].endswith("/bin/lookalike")
    assert set(env_file()) == {f"LOOKALIKE_{f.name.upper()}" for f in dataclasses.fields(ServeConfig)}
    ServeConfig.from_env({**env_file(), "LOOKALIKE_ALLOW_WRITES": "false"})  # the example parses


def test_the_units_command_serves_and_stops_gracefully(live_server: Any, index_copy: Path, key_file: Path) -> None:
    import httpx2

    env = {**env_file(), "LOOKALIKE_INDEX": str(index_copy), "LOOKALIKE_PORT": str(free_port()),
           "LOOKALIKE_ALLOW_WRITES": "true", "LOOKALIKE_API_KEY_FILE": str(key_file)}
    server = live_server([], env=env, command=[LOOKALIKE, *unit_command()[1:]])
    health = httpx2.get(server.url + "/api/v1/health").json()
    assert health["status"] == "ok" and health["writes"] is True and health["index"]["files"] == 5
    for key in (API_KEY, "wrong-key-that-is-long-enough"):  # neither a valid nor an invalid key is logged
        httpx2.delete(server.url + "/api/v1/index/images/999999", headers={"X-API-Key": key})

    a = small_image_bytes("astronaut.png", longest=700)
    b = small_image_bytes("astronaut.png", longest=700, fmt="JPEG")
    answer: dict[str, Any] = {}

    def slow_request() -> None:
        response = httpx2.post(server.url + "/api/v1/match", files={"a": ("a.png", a), "b": ("b.jpg", b)},
                               timeout=60)
        answer.update(status=response.status_code, body=response.json())

    thread = threading.Thread(target=slow_request)
    thread.start()
    for _ in range(400):  # until the match is being computed
        if httpx2.get(server.url + "/api/v1/health").json()["decodes"]["running"]:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the match request never started")
    code = server.stop()  # SIGTERM, as systemd sends it
    thread.join(60)
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM on itself: systemd counts that clean
    assert code in (0, -signal.SIGTERM), server.output()
    assert answer["status"] == 200 and answer["body"]["inliers"] > 0  # the request in flight finished
    log = server.output()
    assert "index closed" in log and "Application shutdown complete" in log
    assert API_KEY not in log and "wrong-key-that-is-long-enough" not in log
    assert "POST /api/v1/match" in log  # request logs: method, path, status; no body


def test_a_clear_warning_beyond_localhost_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setenv("LOOKALIKE_PORT", "8123")
    code, _out, err = run_cli("serve", "--host", "0.0.0.0")
    assert code == 0 and "warning: listening on 0.0.0.0" in err and "--api-key-file" in err
    assert calls[0]["host"] == "0.0.0.0" and calls[0]["port"] == 8123  # from the environment
    code, _out, err = run_cli("serve", "--port", "8124")
    assert code == 0 and "warning" not in err and calls[1]["host"] == "127.0.0.1" and calls[1]["port"] == 8124
    code, _out, err = run_cli("serve", "--allow-writes")
    assert code == 2 and "API key" in err
