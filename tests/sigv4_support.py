"""Checking a SigV4 signature with botocore over a request exactly as it arrived on a socket."""

from __future__ import annotations

import re

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def split_request(raw: bytes) -> tuple[str, str, dict[str, str], bytes]:
    """``(method, raw target, headers by lower-case name, body)`` of one HTTP/1.1 request's bytes."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers, body


def signature_holds(raw: bytes, secret: str, token: str | None = None) -> bool:
    """Whether the request's ``Authorization`` signature is right for the path, headers and body as they arrived."""
    method, target, headers, body = split_request(raw)
    found = _AUTH.fullmatch(headers.get("authorization", ""))
    if found is None:
        return False
    signed = found["signed"].split(";")
    again = AWSRequest(
        method=method, url=f"http://{headers['host']}{target}", data=body, headers={h: headers[h] for h in signed}
    )
    again.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials(found["key"], secret, token), found["service"], found["region"])
    canonical = signer.canonical_request(again)
    return bool(found["signature"] == signer.signature(signer.string_to_sign(again, canonical), again))
