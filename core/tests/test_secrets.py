"""Secrets (keys, tokens, settings) never appear in a repr, an error message or a response."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pixmux import APIConnectionError, Auth, AuthenticationError, Deployment, PixmuxError
from pixmux.testing import make_engine

KEY = "sk-live-DO-NOT-LEAK-1234567890"


def test_secrets_deployment_repr_hides_key_and_settings() -> None:
    """A Deployment's repr shows where, never the key or the provider settings (credentials live there)."""
    deployment = Deployment(
        provider="fake", model="m1", api_key=KEY, settings={"aws_secret_access_key": "AWS-SECRET-XYZ"}
    )

    text = repr(deployment) + str(deployment)

    assert KEY not in text
    assert "AWS-SECRET-XYZ" not in text
    assert "m1" in text


def test_secrets_auth_repr_hides_the_value() -> None:
    """An Auth's repr never shows the token."""
    auth = Auth(value="ya29.TOKEN-SECRET", expires_at=123.0)

    assert "TOKEN-SECRET" not in repr(auth)
    assert "123" in repr(auth)


def test_secrets_prepared_call_repr_hides_the_key(fake: Any) -> None:
    """The prepared call (logged by routers and debuggers) hides the key too."""
    engine = make_engine(fake, handler=lambda r: httpx.Response(500))

    call = engine.prepare(prompt="otter", model="fake/m1", api_key=KEY, fake_credentials={"secret": "CRED-SECRET"})

    assert KEY not in repr(call)
    assert "CRED-SECRET" not in repr(call)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
def test_secrets_absent_from_errors_even_when_the_provider_echoes_them(fake: Any, status: int) -> None:
    """A provider that echoes the key in its error body does not leak it into the pixmux error."""

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["Authorization"]
        return httpx.Response(status, json={"error": {"message": f"Incorrect API key provided: {echoed}"}})

    engine = make_engine(fake, handler=handler)

    with pytest.raises(PixmuxError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", api_key=KEY, num_retries=0)

    for text in (str(caught.value), repr(caught.value), caught.value.message, *caught.value.args):
        assert KEY not in str(text)
    assert "Incorrect API key provided" in str(caught.value)


def test_secrets_absent_from_token_errors(make_fake: Any) -> None:
    """A resolved token echoed back by the provider is kept out of the error too."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": f"bad token {request.headers['Authorization']}"}})

    engine = make_engine(make_fake(tokens_expire_in=3600), handler=handler)

    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", api_key=KEY)

    assert "tok-1-SECRET" not in str(caught.value)
    assert "tok-1-SECRET" not in repr(caught.value)


def test_secrets_absent_from_connection_errors(fake: Any) -> None:
    """A transport error whose text carries the key (a URL with ``?key=``) is scrubbed."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to https://fake.invalid/v1?key={KEY}", request=request)

    engine = make_engine(fake, handler=handler)

    with pytest.raises(APIConnectionError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", api_key=KEY, num_retries=0)

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


def test_secrets_absent_from_the_response(fake: Any, ok_handler: Any) -> None:
    """Neither the response's JSON, its repr nor its metadata holds the key."""
    engine = make_engine(fake, handler=ok_handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1", api_key=KEY)

    assert KEY not in resp.to_json()
    assert KEY not in repr(resp)
    assert KEY not in repr(dict(resp.metadata))
