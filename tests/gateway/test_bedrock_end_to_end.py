"""
The gateway serves a ``bedrock/`` deployment end to end: the official ``openai`` client asks the
real server (uvicorn, async path, aiohttp transport), and a Bedrock stand-in on 127.0.0.1
verifies the SigV4 signature over the path exactly as it arrived (``%3A`` in the model id).
"""

from __future__ import annotations

import base64
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import openai
import pytest
from gateway_support import RunningGateway
from pixmux.proxy import create_app, parse_config
from pixmux.testing import TINY_PNG_B64, local_server, reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sigv4_support import signature_holds

KEY_ID = "AKIAGATEWAYE2E000000"
SECRET = "gateway-e2e-secret-access-key-0123456789"
MASTER = "sk-gateway-e2e-master"


class Bedrock(BaseHTTPRequestHandler):
    """Bedrock's InvokeModel for Nova Canvas: 403 unless the signature holds for the request as it arrived."""

    seen: ClassVar[list[tuple[str, bool]]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        head = f"{self.command} {self.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        holds = signature_holds(head.encode("latin-1") + b"\r\n" + body, SECRET)
        with self.lock:
            Bedrock.seen.append((self.path, holds))
        if holds:
            status, answer = 200, {"images": [TINY_PNG_B64]}
        else:
            status, answer = (
                403,
                {"message": "The request signature we calculated does not match the signature you provided."},
            )
        reply(
            self, status, answer, headers={"x-amzn-ErrorType": "InvalidSignatureException"} if status == 403 else None
        )

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def bedrock_gateway() -> Iterator[RunningGateway]:
    with local_server(Bedrock) as stand_in:
        config = {
            "model_list": [
                {
                    "model_name": "nova",
                    "litellm_params": {
                        "model": "bedrock/amazon.nova-canvas-v1:0",
                        "api_base": stand_in,
                        "aws_access_key_id": KEY_ID,
                        "aws_secret_access_key": SECRET,
                        "aws_region_name": "us-east-1",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        with RunningGateway(create_app(parse_config(config, path="bedrock.yaml", environ={}))) as running:
            yield running


def test_the_openai_client_gets_a_bedrock_image_through_the_gateway(bedrock_gateway: RunningGateway) -> None:
    """A signed request with ':' in the model id reaches Bedrock intact; its image comes back."""
    Bedrock.seen.clear()
    client = openai.OpenAI(base_url=f"{bedrock_gateway.url}/v1", api_key=MASTER, max_retries=0)

    result = client.images.generate(model="nova", prompt="a lighthouse at dusk", response_format="b64_json")

    assert base64.b64decode(result.data[0].b64_json or "").startswith(b"\x89PNG")
    assert Bedrock.seen == [("/model/amazon.nova-canvas-v1%3A0/invoke", True)]
