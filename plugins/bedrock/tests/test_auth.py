"""Credentials and signing: boto3 resolution, assume-role through a local STS, SigV4 verified independently, refresh."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from pixmux import hookimpl
from pixmux.exceptions import AuthenticationError, ConfigurationError, PermissionDeniedError
from pixmux.testing import load_json, local_server, make_engine, reply
from pixmux.types import Auth, Deployment, ImageRequest
from pixmux_bedrock import provider
from pixmux_bedrock._auth import AwsIdentity
from pixmux_bedrock._catalogue import CATALOGUE

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ROLE = "arn:aws:iam::123456789012:role/pixmux-images"
NOVA = "amazon.nova-canvas-v1:0"


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """boto3's chain sees empty config files and no instance metadata, never the developer's real AWS setup."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / "config").write_text("")
    (tmp_path / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


class FakeSts(http.server.BaseHTTPRequestHandler):
    """A local STS answering AssumeRole with fresh numbered credentials, as AWS's XML."""

    calls: list[dict[str, str]]
    expires_in = 3600.0
    refuse = False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = self.rfile.read(length).decode()
        self.calls.append({"form": form, "authorization": self.headers.get("Authorization", "")})
        number = len(self.calls)
        if self.refuse:
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                "<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message>"
                "</Error><RequestId>r-1</RequestId></ErrorResponse>"
            )
            status = 403
        else:
            expiry = datetime.fromtimestamp(time.time() + self.expires_in, tz=timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            action = "AssumeRoleWithWebIdentity" if "Action=AssumeRoleWithWebIdentity" in form else "AssumeRole"
            body = (
                f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>'
                "<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:pixmux</AssumedRoleId>"
                f"<Arn>arn:aws:sts::123456789012:assumed-role/pixmux-images/pixmux</Arn></AssumedRoleUser>"
                f"<Credentials><AccessKeyId>ASIATEMP{number}</AccessKeyId>"
                f"<SecretAccessKey>temp-secret-{number}</SecretAccessKey>"
                f"<SessionToken>temp-token-{number}</SessionToken><Expiration>{expiry}</Expiration></Credentials>"
                f"</{action}Result><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></{action}Response>"
            )
            status = 200
        reply(self, status, body.encode(), content_type="text/xml")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sts() -> Iterator[type[FakeSts]]:
    """A fresh FakeSts on 127.0.0.1; its ``url`` is the endpoint, ``calls`` what it received."""
    handler = type("Sts", (FakeSts,), {"calls": []})
    with local_server(handler) as url:
        handler.url = url  # type: ignore[attr-defined]
        yield handler


def role_settings(url: str) -> dict[str, Any]:
    return {
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_role_name": ROLE,
        "aws_session_name": "pixmux-tests",
        "aws_sts_endpoint": url,
        "aws_region_name": "us-west-2",
    }


def nova_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=load_json("nova_success.json"), headers={"x-amzn-RequestId": "req-1"})


def parse_authorization(value: str) -> dict[str, str]:
    match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", value)
    assert match, value
    credential, signed, signature = match.groups()
    key, date, region, service, terminal = credential.split("/")
    return {
        "key": key,
        "date": date,
        "region": region,
        "service": service,
        "terminal": terminal,
        "signed": signed,
        "signature": signature,
    }


def verify_with_botocore(sent: httpx.Request, secret: str, token: str | None = None) -> str:
    """Recompute the signature of the exact request sent with botocore's SigV4; returns the canonical request."""
    auth = parse_authorization(sent.headers["authorization"])
    signed = auth["signed"].split(";")
    again = AWSRequest(
        method=sent.method, url=str(sent.url), data=sent.content, headers={h: sent.headers[h] for h in signed}
    )
    again.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(ReadOnlyCredentials(auth["key"], secret, token), auth["service"], auth["region"])
    canonical = signer.canonical_request(again)
    assert auth["signature"] == signer.signature(signer.string_to_sign(again, canonical), again)
    assert auth["signed"] == signer.signed_headers(signer.headers_to_sign(again))
    return canonical


def verify_by_hand(sent: httpx.Request, secret: str) -> None:
    """The SigV4 algorithm written out from AWS's spec, with no AWS library: path segments encoded twice."""
    auth = parse_authorization(sent.headers["authorization"])
    signed = auth["signed"].split(";")
    canonical = "\n".join(
        [
            sent.method,
            quote(sent.url.raw_path.decode(), safe="/~"),
            "",
            "".join(f"{h}:{' '.join(sent.headers[h].split())}\n" for h in signed),
            auth["signed"],
            hashlib.sha256(sent.content).hexdigest(),
        ]
    )
    scope = f"{auth['date']}/{auth['region']}/{auth['service']}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", sent.headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (auth["date"], auth["region"], auth["service"], "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert auth["signature"] == hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- signing


def test_build_request_signature_verifies_with_botocore() -> None:
    """The exact request sent carries a SigV4 signature for service bedrock that botocore recomputes identically."""
    engine = make_engine(provider, handler=nova_ok)

    engine.image_generation(
        prompt="a fox",
        model=f"bedrock/{NOVA}",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        aws_region_name="eu-west-1",
    )

    sent = engine.requests[0]
    auth = parse_authorization(sent.headers["authorization"])
    assert (
        auth["key"],
        auth["region"],
        auth["service"],
        auth["terminal"],
    ) == (KEY_ID, "eu-west-1", "bedrock", "aws4_request")
    assert {"host", "x-amz-date", "content-type"} <= set(auth["signed"].split(";"))
    canonical = verify_with_botocore(sent, SECRET)
    assert canonical.split("\n")[1] == "/model/amazon.nova-canvas-v1%253A0/invoke"
    verify_by_hand(sent, SECRET)


def test_build_request_signature_covers_session_token_and_arn_path() -> None:
    """Temporary credentials sign X-Amz-Security-Token too, and an ARN path (%3A, %2F) signs double-encoded."""
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
    identity = Auth(value=AwsIdentity(access_key="ASIATEMP", secret_key=SECRET, token="session-token"))
    request = ImageRequest(prompt="a fox", model=arn)
    deployment = Deployment(
        provider="bedrock", model=arn, settings={"aws_region_name": "us-east-1", "base_model": NOVA}
    )

    sent = provider.build_request(request=request, deployment=deployment, model=CATALOGUE.lookup(arn), auth=identity)

    assert isinstance(sent, httpx.Request)
    assert sent.headers["x-amz-security-token"] == "session-token"
    assert "x-amz-security-token" in parse_authorization(sent.headers["authorization"])["signed"].split(";")
    canonical = verify_with_botocore(sent, SECRET, "session-token")
    assert "%253Aapplication-inference-profile%252Fabc" in canonical.split("\n")[1]
    verify_by_hand(sent, SECRET)


def test_build_request_path_matches_botocore_client() -> None:
    """The invoke path is byte for byte what boto3's own bedrock-runtime client sends, and it signs as 'bedrock'."""
    import botocore.session

    client = botocore.session.get_session().create_client(
        "bedrock-runtime", region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    captured: dict[str, str] = {}

    class Captured(Exception):
        pass

    def grab(request: AWSRequest, **_: Any) -> None:
        captured["url"] = request.url
        raise Captured

    client.meta.events.register("before-sign.bedrock-runtime.InvokeModel", grab)
    model = "arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-canvas-v1:0"
    with pytest.raises(Captured):
        client.invoke_model(modelId=model, body=b"{}")
    ours = provider.build_request(
        request=ImageRequest(prompt="a fox", model=model),
        deployment=Deployment(provider="bedrock", model=model, settings={"aws_region_name": "us-east-1"}),
        model=CATALOGUE.lookup(model),
        auth=Auth(value=AwsIdentity(access_key=KEY_ID, secret_key=SECRET)),
    )

    assert isinstance(ours, httpx.Request)
    assert captured["url"] == str(ours.url)
    assert client.meta.service_model.signing_name == "bedrock"


def test_build_request_bearer_api_key_is_not_signed() -> None:
    """A Bedrock API key from AWS_BEARER_TOKEN_BEDROCK is sent as a bearer token, with no SigV4 and no boto3 call."""
    engine = make_engine(
        provider, handler=nova_ok, environ={"AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-1", "AWS_REGION": "us-east-2"}
    )

    engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}")

    sent = engine.requests[0]
    assert sent.headers["authorization"] == "Bearer bedrock-api-key-1"
    assert "x-amz-date" not in sent.headers
    assert sent.url.host == "bedrock-runtime.us-east-2.amazonaws.com"


def test_build_request_without_region_names_the_setting() -> None:
    """No region anywhere is a ConfigurationError naming aws_region_name, before anything is sent."""
    engine = make_engine(provider, handler=nova_ok, environ={"AWS_BEARER_TOKEN_BEDROCK": "k"})

    with pytest.raises(ConfigurationError, match="AWS_REGION") as info:
        engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}")

    assert (info.value.param, engine.requests) == ("aws_region_name", [])


def test_build_request_region_from_api_base_host() -> None:
    """With a regional api_base and no region setting, the region to sign for is read from the host."""
    engine = make_engine(provider, handler=nova_ok)

    engine.image_generation(
        prompt="a fox",
        model=f"bedrock/{NOVA}",
        api_base="https://bedrock-runtime.ap-northeast-1.amazonaws.com",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )

    assert parse_authorization(engine.requests[0].headers["authorization"])["region"] == "ap-northeast-1"


# --------------------------------------------------------------------------- resolve_auth


def test_resolve_auth_env_keys_and_region() -> None:
    """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION_NAME from the environment sign."""
    environ = {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": "tok",
        "AWS_REGION_NAME": "us-west-2",
    }
    engine = make_engine(provider, handler=nova_ok, environ=environ)

    engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}")

    sent = engine.requests[0]
    assert (sent.headers["x-amz-security-token"], sent.url.host) == ("tok", "bedrock-runtime.us-west-2.amazonaws.com")
    verify_with_botocore(sent, SECRET, "tok")


def test_resolve_auth_profile_from_config_files(isolated_aws: Any) -> None:
    """aws_profile_name reads that profile's keys and region from the AWS files."""
    (isolated_aws / "credentials").write_text(
        f"[images]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = {SECRET}\n"
    )
    (isolated_aws / "config").write_text("[profile images]\nregion = eu-central-1\n")

    auth = provider.resolve_auth(
        deployment=Deployment(provider="bedrock", model=NOVA, settings={"aws_profile_name": "images"})
    )

    assert auth is not None
    assert (auth.value.access_key, auth.value.region, auth.expires_at) == ("AKIDPROFILE", "eu-central-1", None)


def test_resolve_auth_unknown_profile_is_configuration_error() -> None:
    """A profile that does not exist is a ConfigurationError naming aws_profile_name."""
    with pytest.raises(ConfigurationError) as info:
        provider.resolve_auth(
            deployment=Deployment(provider="bedrock", model=NOVA, settings={"aws_profile_name": "nope"})
        )

    assert info.value.param == "aws_profile_name"


def test_resolve_auth_no_credentials_anywhere() -> None:
    """With nothing configured, the default chain finds nothing and the error says what to set."""
    with pytest.raises(AuthenticationError, match="AWS_BEARER_TOKEN_BEDROCK"):
        provider.resolve_auth(
            deployment=Deployment(provider="bedrock", model=NOVA, settings={"aws_region_name": "us-east-1"})
        )


def test_resolve_auth_key_without_secret() -> None:
    """An access key id without its secret is refused naming the missing setting."""
    with pytest.raises(ConfigurationError) as info:
        provider.resolve_auth(
            deployment=Deployment(provider="bedrock", model=NOVA, settings={"aws_access_key_id": KEY_ID})
        )

    assert info.value.param == "aws_secret_access_key"


def test_resolve_auth_assume_role_through_sts(sts: type[FakeSts]) -> None:
    """aws_role_name assumes the role with the base keys and returns its temporary credentials and expiry."""
    before = time.time()

    auth = provider.resolve_auth(deployment=Deployment(provider="bedrock", model=NOVA, settings=role_settings(sts.url)))  # type: ignore[attr-defined]

    assert auth is not None
    assert auth.expires_at is not None
    assert (auth.value.access_key, auth.value.token, auth.value.region) == ("ASIATEMP1", "temp-token-1", "us-west-2")
    assert before + 3500 < auth.expires_at < time.time() + 3700
    assert "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpixmux-images" in sts.calls[0]["form"]
    assert "RoleSessionName=pixmux-tests" in sts.calls[0]["form"]
    assert f"Credential={KEY_ID}/" in sts.calls[0]["authorization"]


def test_resolve_auth_web_identity_token_assumes_role_without_keys(sts: type[FakeSts]) -> None:
    """aws_web_identity_token (LiteLLM's key) is exchanged with AssumeRoleWithWebIdentity, unsigned, for the role."""
    settings = {
        "aws_role_name": ROLE,
        "aws_session_name": "pixmux-oidc",
        "aws_web_identity_token": "eyJ.oidc-token.sig",
        "aws_sts_endpoint": sts.url,  # type: ignore[attr-defined]
        "aws_region_name": "us-west-2",
    }

    auth = provider.resolve_auth(deployment=Deployment(provider="bedrock", model=NOVA, settings=settings))

    assert auth is not None
    assert (auth.value.access_key, auth.value.token) == ("ASIATEMP1", "temp-token-1")
    form = sts.calls[0]["form"]
    assert "Action=AssumeRoleWithWebIdentity" in form
    assert "WebIdentityToken=eyJ.oidc-token.sig" in form
    assert "RoleSessionName=pixmux-oidc" in form
    assert sts.calls[0]["authorization"] == ""  # no credentials needed, none sent


def test_resolve_auth_assume_role_refused(sts: type[FakeSts]) -> None:
    """STS refusing the role is a PermissionDeniedError with AWS's message, and no secret in it."""
    sts.refuse = True

    with pytest.raises(PermissionDeniedError, match="not authorized") as info:
        provider.resolve_auth(deployment=Deployment(provider="bedrock", model=NOVA, settings=role_settings(sts.url)))  # type: ignore[attr-defined]

    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


def test_resolve_auth_role_must_be_an_arn() -> None:
    """A role name that is not an ARN is refused before STS is called."""
    settings = {"aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "aws_role_name": "pixmux-images"}
    with pytest.raises(ConfigurationError, match="ARN"):
        provider.resolve_auth(deployment=Deployment(provider="bedrock", model=NOVA, settings=settings))


# --------------------------------------------------------------------------- refresh and caching


class ThreadRecorder:
    """An extension plugin that records which thread ran resolve_auth."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    @hookimpl(wrapper=True)
    def resolve_auth(self) -> Any:
        """Record the thread, then let the provider resolve."""
        self.threads.append(threading.get_ident())
        return (yield)


async def test_aimage_generation_refreshes_expiring_credentials(sts: type[FakeSts]) -> None:
    """On the async path, credentials about to expire are resolved again (off the event loop) for the next call."""
    sts.expires_in = 200  # inside the core's 300 s margin: never reused
    recorder = ThreadRecorder()
    engine = make_engine(provider, handler=nova_ok, extensions=[recorder])

    for _ in range(2):
        resp = await engine.aimage_generation(prompt="a fox", model=f"bedrock/{NOVA}", **role_settings(sts.url))  # type: ignore[attr-defined]
        assert len(resp.data) == 1

    keys = [parse_authorization(r.headers["authorization"])["key"] for r in engine.requests]
    assert (len(sts.calls), keys) == (2, ["ASIATEMP1", "ASIATEMP2"])
    assert [r.headers["x-amz-security-token"] for r in engine.requests] == ["temp-token-1", "temp-token-2"]
    verify_with_botocore(engine.requests[1], "temp-secret-2", "temp-token-2")
    assert threading.get_ident() not in recorder.threads


async def test_aimage_generation_caches_fresh_credentials(sts: type[FakeSts]) -> None:
    """Credentials valid for an hour are resolved once and reused across async calls."""
    engine = make_engine(provider, handler=nova_ok)

    for _ in range(3):
        await engine.aimage_generation(prompt="a fox", model=f"bedrock/{NOVA}", **role_settings(sts.url))  # type: ignore[attr-defined]

    assert len(sts.calls) == 1
    assert {"ASIATEMP1"} == {parse_authorization(r.headers["authorization"])["key"] for r in engine.requests}


def test_image_generation_expired_token_forgets_cached_credentials(sts: type[FakeSts]) -> None:
    """An ExpiredTokenException is an AuthenticationError and the next call resolves fresh credentials."""
    answers = iter(
        [
            httpx.Response(
                403,
                json=load_json("error_expired_token.json"),
                headers={
                    "x-amzn-ErrorType": "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/"
                },
            ),
            httpx.Response(200, json=load_json("nova_success.json")),
        ]
    )
    engine = make_engine(provider, handler=lambda request: next(answers))

    with pytest.raises(AuthenticationError, match="expired"):
        engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}", **role_settings(sts.url))  # type: ignore[attr-defined]
    engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}", **role_settings(sts.url))  # type: ignore[attr-defined]

    assert len(sts.calls) == 2
    assert parse_authorization(engine.requests[1].headers["authorization"])["key"] == "ASIATEMP2"


# --------------------------------------------------------------------------- secrets


def test_secrets_stay_out_of_reprs_errors_and_logs(sts: type[FakeSts], caplog: pytest.LogCaptureFixture) -> None:
    """No secret key, session token or signature appears in a repr, an error or a log line, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    answer = httpx.Response(
        403, json=load_json("error_invalid_signature.json"), headers={"x-amzn-ErrorType": "InvalidSignatureException"}
    )
    engine = make_engine(provider, handler=lambda request: answer)
    settings = role_settings(sts.url)  # type: ignore[attr-defined]

    with pytest.raises(AuthenticationError) as info:
        engine.image_generation(prompt="a fox", model=f"bedrock/{NOVA}", **settings)

    signature = parse_authorization(engine.requests[0].headers["authorization"])["signature"]
    auth = provider.resolve_auth(deployment=Deployment(provider="bedrock", model=NOVA, settings=settings))
    deployment = Deployment(provider="bedrock", model=NOVA, api_key="bedrock-api-key-1", settings=settings)
    seen = "\n".join(
        [
            str(info.value),
            repr(info.value),
            repr(auth),
            repr(auth.value if auth else None),
            repr(deployment),
            caplog.text,
        ]
    )
    for secret in (
        SECRET,
        "temp-secret-1",
        "temp-token-1",
        "temp-secret-2",
        "temp-token-2",
        signature,
        "bedrock-api-key-1",
    ):
        assert secret not in seen
    assert "InvalidSignatureException" in str(info.value)
