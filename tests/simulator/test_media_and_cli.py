"""Media upload and bearer-authenticated download, and the command line."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import ROOT, wait_for
from tests.simulator.conftest import PHONE_NUMBER_ID, TOKEN, SimulatorClient, WebhookReceiver

BOUNDARY = "simulator-test-boundary"


def multipart(fields: dict[str, str], content: bytes, mime_type: str) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    file_header = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
    parts.append(f"{file_header}Content-Type: {mime_type}\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def upload(simulator: SimulatorClient, content: bytes, *, token: str = TOKEN) -> str:
    body = multipart({"messaging_product": "whatsapp"}, content, "application/pdf")
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = simulator.request("POST", f"/v23.0/{PHONE_NUMBER_ID}/media", raw=body, token=token, headers=headers)
    assert response.status == 200, response.body
    return str(response.body["id"])


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_media_upload_metadata_and_download(simulator: SimulatorClient) -> None:
    simulator.channel_add()
    simulator.channel_add(provider_id="200", access_token="other-token")
    content = b"%PDF-1.4 simulated document"

    media_id = upload(simulator, content)
    metadata = simulator.request("GET", f"/v23.0/{media_id}", token=TOKEN)

    assert metadata.status == 200
    assert metadata.body["id"] == media_id
    assert metadata.body["messaging_product"] == "whatsapp"
    assert metadata.body["mime_type"] == "application/pdf"
    assert metadata.body["file_size"] == str(len(content))
    assert metadata.body["sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert metadata.body["url"].startswith(simulator.base_url + "/whatsapp_business/attachments/?mid=")
    download = path_of(metadata.body["url"])
    assert simulator.request("GET", download, token=TOKEN).body == content
    assert simulator.request("GET", download).status == 401
    assert simulator.request("GET", download, token="other-token").status == 401
    assert simulator.request("GET", f"/v23.0/{media_id}", token="other-token").status == 401

    assert simulator.request("DELETE", f"/v23.0/{media_id}", token=TOKEN).body == {"success": True}
    gone = simulator.request("GET", f"/v23.0/{media_id}", token=TOKEN)
    assert (gone.status, gone.body["error"]["code"]) == (400, 100)
    assert simulator.request("GET", download, token=TOKEN).status == 404


def test_media_upload_needs_a_file_and_a_token(simulator: SimulatorClient) -> None:
    simulator.channel_add()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    path = f"/v23.0/{PHONE_NUMBER_ID}/media"
    empty = multipart({"messaging_product": "whatsapp"}, b"", "image/jpeg")

    assert simulator.request("POST", path, raw=empty, token=TOKEN, headers=headers).body["error"]["code"] == 131008
    no_product = multipart({}, b"x", "image/jpeg")
    assert simulator.request("POST", path, raw=no_product, token=TOKEN, headers=headers).body["error"]["code"] == 100
    assert simulator.request("POST", path, raw=empty, token="bad", headers=headers).status == 401
    assert simulator.request("POST", path, {"not": "multipart"}, token=TOKEN).status == 400


def test_inbound_image_media_is_downloadable(simulator: SimulatorClient, receiver: WebhookReceiver) -> None:
    simulator.channel_add(webhook_url=receiver.url)

    simulator.request("POST", "/_sim/inbound", {"provider_id": PHONE_NUMBER_ID, "type": "image"})

    assert wait_for(lambda: len(receiver.snapshot()) == 1, seconds=10)
    image = receiver.snapshot()[0].payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    metadata = simulator.request("GET", f"/v23.0/{image['id']}", token=TOKEN).body
    content = simulator.request("GET", path_of(metadata["url"]), token=TOKEN).body
    assert metadata["sha256"] == image["sha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert image["mime_type"] == "image/jpeg"


def run_simulator(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "simulator", *arguments]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)


def test_help_describes_the_control_api() -> None:
    result = run_simulator("--help")

    assert result.returncode == 0
    assert "/_sim/" in result.stdout
    assert "--config" in result.stdout


def test_bad_configuration_exits_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"channels": [{"platform": "whatsapp", "provider_id": "1"}]}))

    result = run_simulator("--port", "0", "--config", str(config))

    assert result.returncode == 2
    assert "bad configuration: access_token must be a non-empty string" in result.stderr


def test_configuration_file_registers_channels_and_faults(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    channel = {"platform": "whatsapp", "provider_id": "1", "access_token": "t", "app_secret": "s", "mps": 7}
    config.write_text(json.dumps({"channels": [channel], "faults": {"server_error_rate": 0.5, "seed": 1}}))
    command = [sys.executable, "-m", "simulator", "--port", "0", "--config", str(config)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        client = SimulatorClient(process.stdout.readline().split()[-1])
        [registered] = client.request("GET", "/_sim/channels").body["channels"]
        faults = client.request("GET", "/_sim/faults").body
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert (registered["provider_id"], registered["mps"]) == ("1", 7)
    assert "access_token" not in registered
    assert faults["global"]["server_error_rate"] == 0.5
