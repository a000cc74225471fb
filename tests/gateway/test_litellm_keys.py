"""The LiteLLM key table (``pixmux.litellm_keys``) as the loader applies it, and the docs page generated from it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pixmux_openai.provider
import pytest
from gateway_support import MASTER_KEY, UPSTREAM_KEY, auth, make_gateway, mock_handler
from pixmux import ConfigurationError, litellm_keys
from pixmux.litellm_keys import HONOURED, IGNORED, KEYS, REFUSED
from pixmux.proxy import ConfigError, create_app, parse_config
from pixmux.proxy.process import apply_process_settings
from pixmux.testing import TINY_PNG_B64, json_response, make_engine

ROOT = Path(__file__).resolve().parents[2]


def base(**sections: Any) -> dict[str, Any]:
    """A one-model config (an OpenAI-compatible server) with ``sections`` added."""
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "sd",
                "litellm_params": {"model": "openai/sd-xl", "api_base": "http://up.test/v1", "api_key": UPSTREAM_KEY},
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(name), dict):
            config[name] = {**config[name], **value}
        else:
            config[name] = value
    return config


def load(config: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    return parse_config(config, path="c.yaml", environ=environ or {})


def placed(key: litellm_keys.Key, value: Any) -> dict[str, Any]:
    """A config carrying ``key`` with ``value`` where it belongs."""
    if key.section == "top":
        return base(**{key.name: value})
    if key.section in ("litellm_settings", "router_settings", "general_settings"):
        return base(**{key.section: {key.name: value}})
    config = base()
    entry = config["model_list"][0]
    if key.section == "litellm_params":
        entry["litellm_params"][key.name] = value
    elif key.section == "model_info":
        entry["model_info"] = {key.name: value}
    return config


SECTIONED = ("top", "litellm_settings", "router_settings", "general_settings", "litellm_params", "model_info")


@pytest.mark.parametrize(
    "key", [k for k in KEYS if k.kind == IGNORED and k.section in SECTIONED], ids=lambda k: f"{k.section}.{k.name}"
)
def test_every_ignored_key_starts_with_one_line_naming_it(key: litellm_keys.Key) -> None:
    """Each key the table ignores starts the gateway and says so in exactly one start-up line."""
    config = load(placed(key, ["x"] if key.name.endswith("callback") or key.name == "callbacks" else "x"))

    lines = [line for line in config.warnings if f"{key.name}" in line]
    assert len(lines) == 1, config.warnings
    assert key.how in lines[0]


@pytest.mark.parametrize(
    "key", [k for k in KEYS if k.kind == REFUSED and k.section in SECTIONED], ids=lambda k: f"{k.section}.{k.name}"
)
def test_every_refused_key_stops_the_start_with_the_reason(key: litellm_keys.Key) -> None:
    """Each key the table refuses stops the start, naming the key and giving the reason and what to do."""
    with pytest.raises(ConfigError) as caught:
        load(placed(key, "x"))

    assert key.name in caught.value.message
    assert key.how in caught.value.message


@pytest.mark.parametrize(
    ("config", "place", "suggestion"),
    [
        (base(router_settings={"num_retrys": 5}), "router_settings.num_retrys", "num_retries"),
        (base(litellm_settings={"drop_param": True}), "litellm_settings.drop_param", "drop_params"),
        (base(general_settings={"master_kye": "k"}), "general_settings.master_kye", "master_key"),
        (base(router_setting={"num_retries": 1}), "router_setting", "router_settings"),
        (
            base(router_settings={"routing_stratgy": "least-busy"}),
            "router_settings.routing_stratgy",
            "routing_strategy",
        ),
    ],
)
def test_unknown_keys_are_refused_with_a_did_you_mean(config: dict[str, Any], place: str, suggestion: str) -> None:
    """A key neither LiteLLM nor pixmux has is refused, naming its place and the closest known key."""
    with pytest.raises(ConfigError) as caught:
        load(config)

    assert caught.value.param == place
    assert f"did you mean {suggestion!r}" in caught.value.message


def test_litellm_settings_router_keys_reach_the_router_and_router_settings_win() -> None:
    """num_retries and the fallbacks in litellm_settings are the router's, unless router_settings sets its own."""
    config = load(
        base(
            litellm_settings={"num_retries": 5, "default_fallbacks": ["sd"]},
            router_settings={"num_retries": 1},
        )
    )

    assert config.router_settings["num_retries"] == 1
    assert config.router_settings["default_fallbacks"] == ["sd"]


def test_environment_variables_are_set_before_references_resolve() -> None:
    """An os.environ/ reference may name a variable the config's environment_variables sets (which wins)."""
    config = base(environment_variables={"SD_KEY": "sk-from-config-0001", "PORT": 8080})
    config["model_list"][0]["litellm_params"]["api_key"] = "os.environ/SD_KEY"

    loaded = load(config, environ={"SD_KEY": "sk-from-shell"})

    assert loaded.model_list[0]["litellm_params"]["api_key"] == "sk-from-config-0001"
    assert loaded.environment == {"SD_KEY": "sk-from-config-0001", "PORT": "8080"}
    assert "sk-from-config-0001" in loaded.secrets


def test_environment_variables_may_themselves_read_the_environment() -> None:
    """A value written os.environ/NAME in environment_variables is read from the process environment."""
    loaded = load(base(environment_variables={"GEMINI_API_KEY": "os.environ/VAULT_GEMINI"}), {"VAULT_GEMINI": "g-0123"})

    assert loaded.environment == {"GEMINI_API_KEY": "g-0123"}
    assert "g-0123" in loaded.secrets


def test_credential_list_names_are_checked_with_a_suggestion() -> None:
    """A litellm_credential_name that no credential_list entry has is refused, suggesting the closest."""
    config = base(credential_list=[{"credential_name": "azure-eu", "credential_values": {"api_key": "k-0123"}}])
    config["model_list"][0]["litellm_params"]["litellm_credential_name"] = "azure-ue"

    with pytest.raises(ConfigError, match="did you mean 'azure-eu'"):
        load(config)


@pytest.mark.parametrize(
    ("alias", "target"),
    [("vertex_ai_credentials", "vertex_credentials"), ("aws_bedrock_runtime_endpoint", "api_base")],
)
def test_litellm_credential_aliases_are_read_as_pixmux_names(alias: str, target: str) -> None:
    """LiteLLM's older or alternative names land on the setting pixmux's plugins read."""
    config = base()
    params = config["model_list"][0]["litellm_params"]
    params.pop("api_base")
    params[alias] = "https://vpce.example.test" if target == "api_base" else '{"type": "service_account"}'

    loaded = load(config)

    assert loaded.model_list[0]["litellm_params"][target] == params[alias]
    assert alias not in loaded.model_list[0]["litellm_params"]


def test_prices_in_litellm_params_move_to_model_info() -> None:
    """LiteLLM mirrors price keys from litellm_params into model_info; so does pixmux, and checks them."""
    config = base()
    config["model_list"][0]["litellm_params"]["output_cost_per_image"] = 0.02

    loaded = load(config)
    config["model_list"][0]["litellm_params"]["output_cost_per_image"] = -1

    assert loaded.model_list[0]["model_info"]["output_cost_per_image"] == 0.02
    assert "output_cost_per_image" not in loaded.model_list[0]["litellm_params"]
    with pytest.raises(ConfigError, match="price of 0 or more"):
        load(config)


def test_pending_keys_start_with_a_line_saying_what_happens_meanwhile() -> None:
    """Redis settings being connected elsewhere start with a line; the database is used; no secret shows."""
    loaded = load(
        base(
            router_settings={"redis_url": "redis://:redis-pass-0001@cache:6379"},
            general_settings={"database_url": "postgresql://u:db-pass-0001@db/x"},
        )
    )

    lines = "\n".join(loaded.warnings)
    assert "router_settings.redis_url" not in lines  # shared state is connected now (issue 19)
    assert loaded.accounting is not None  # the database holds virtual keys and spend
    assert loaded.accounting.host == "db"
    assert "db-pass-0001" not in lines
    assert "db-pass-0001" not in repr(loaded)
    assert "redis-pass-0001" not in lines


def test_database_url_from_the_environment_turns_virtual_keys_on() -> None:
    """DATABASE_URL in the environment (LiteLLM's way) is the database when the file names none."""
    loaded = load(base(), environ={"DATABASE_URL": "postgresql://u:p@db/x"})

    assert loaded.accounting is not None
    assert loaded.accounting.host == "db"


async def test_global_max_parallel_requests_answers_429_beyond_the_limit() -> None:
    """With global_max_parallel_requests: 1, a second request while one is in flight gets a 429 at once."""
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return mock_handler(request)

    engine = make_engine(pixmux_openai.provider, handler=slow)
    gateway = create_app(load(base(general_settings={"global_max_parallel_requests": 1})), engine=engine)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        body = {"model": "sd", "prompt": "otter"}
        first = asyncio.create_task(client.post("/v1/images/generations", json=body, headers=auth()))
        while not engine.requests:
            await asyncio.sleep(0.01)
        second = await client.post("/v1/images/generations", json=body, headers=auth())
        release.set()
        done = await first
        third = await client.post("/v1/images/generations", json=body, headers=auth())

    assert (done.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"]["type"] == "rate_limit_error"


async def test_image_generation_model_serves_every_generation() -> None:
    """general_settings.image_generation_model is used whatever model a generation names."""
    config = base(general_settings={"image_generation_model": "sd"})
    gateway, engine = make_gateway(config)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        answer = await client.post(
            "/v1/images/generations", json={"model": "dall-e-3", "prompt": "otter"}, headers=auth()
        )

    assert answer.status_code == 200, answer.text
    assert json.loads(engine.requests[0].content)["model"] == "sd-xl"


async def test_image_generation_model_leaves_edits_to_the_model_they_name() -> None:
    """image_generation_model forces generations only: an edit goes to the model it names."""
    config = base(general_settings={"image_generation_model": "sd"})
    config["model_list"].append(
        {
            "model_name": "editor",
            "litellm_params": {"model": "openai/edit-xl", "api_base": "http://up.test/v1", "api_key": UPSTREAM_KEY},
        }
    )
    gateway, engine = make_gateway(
        config, handler=lambda _: json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})
    )
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        answer = await client.post(
            "/v1/images/edits",
            data={"model": "editor", "prompt": "snow"},
            files={"image": ("room.png", base64.b64decode(TINY_PNG_B64), "image/png")},
            headers=auth(),
        )

    assert answer.status_code == 200, answer.text
    (request,) = engine.requests
    assert request.url.path == "/v1/images/edits"
    assert b'name="model"\r\n\r\nedit-xl' in request.content


async def test_clients_cannot_set_deployment_settings() -> None:
    """A client sending extra_headers, a credential or a price gets a 400: those are the config's alone."""
    gateway, engine = make_gateway(base())
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        answers = [
            await client.post(
                "/v1/images/generations", json={"model": "sd", "prompt": "otter", key: value}, headers=auth()
            )
            for key, value in (
                ("extra_headers", {"authorization": "Bearer theirs"}),
                ("aws_secret_access_key", "theirs"),
                ("output_cost_per_image", 0),
            )
        ]

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert engine.requests == []


def test_json_logs_and_set_verbose_shape_the_process_logging() -> None:
    """json_logs writes each log line as one JSON object; set_verbose logs pixmux at debug level."""
    root = logging.Logger("test-root")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    environ: dict[str, str] = {}
    config = load(
        base(
            litellm_settings={"json_logs": True, "set_verbose": True},
            environment_variables={"PIXMUX_TEST_VAR": "1"},
        )
    )
    pixmux_logger = logging.getLogger("pixmux")
    level = pixmux_logger.level
    try:
        apply_process_settings(config, environ=environ, root=root)
        root.warning("gateway %s", "ready")
        assert pixmux_logger.getEffectiveLevel() == logging.DEBUG
    finally:
        pixmux_logger.setLevel(level)

    line = json.loads(stream.getvalue())
    assert (line["level"], line["message"]) == ("WARNING", "gateway ready")
    assert environ == {"PIXMUX_TEST_VAR": "1"}


def test_table_kinds_and_sections_are_valid() -> None:
    """Every entry has a known kind and section, a meaning, and a reason where it is ignored or refused."""
    for key in KEYS:
        assert key.kind in (HONOURED, IGNORED, REFUSED)
        assert key.section in litellm_keys.SECTIONS
        assert key.meaning
        if key.kind != HONOURED:
            assert key.how, key


def test_compatibility_page_is_generated_from_the_table() -> None:
    """docs/litellm-compatibility.md is exactly what `python -m pixmux.litellm_keys` prints (regenerate it if not)."""
    page = (ROOT / "docs" / "litellm-compatibility.md").read_text(encoding="utf-8")

    assert page == litellm_keys.render_markdown()
    printed = subprocess.run(
        [sys.executable, "-m", "pixmux.litellm_keys"], capture_output=True, text=True, check=True, timeout=60
    )
    assert printed.stdout == page


def _value_for(key: litellm_keys.Key, api_base: str) -> Any:
    numbers = {"timeout": 30, "stream_timeout": 30, "max_retries": 0, "num_retries": 0, "rpm": 100, "tpm": 100}
    numbers |= {"order": 1, "weight": 1, "max_parallel_requests": 5}
    if key.name in numbers:
        return numbers[key.name]
    if key.name in litellm_keys.DEPLOYMENT_SETTINGS and "cost" in key.name:
        return 0.01
    special: dict[str, Any] = {
        "model": "openai/sd-xl",
        "api_base": api_base,
        "api_key": UPSTREAM_KEY,
        "custom_llm_provider": "openai",
        "drop_params": True,
        "litellm_credential_name": "shared",
        "extra_headers": {"x-tenant": "marketing"},
        "model_info": {"description": "every key"},
        "aws_bedrock_runtime_endpoint": None,  # an alias of api_base: given separately below
        "vertex_ai_credentials": None,  # an alias of vertex_credentials
        "organization": "org-every-key",
        "allow_image_urls": True,
    }
    if key.name in special:
        return special[key.name]
    return f"{key.name}-value-0123456789"


async def test_a_deployment_with_every_litellm_setting_sends_none_upstream(provider_server: Any) -> None:
    """
    A deployment carrying every litellm_params key LiteLLM defines (all but the refused ones) sends
    only the prompt and real provider parameters in the body a local recording server receives;
    extra_headers arrive as headers.
    """
    params: dict[str, Any] = {}
    for key in litellm_keys.section_keys("litellm_params"):
        if key.kind == REFUSED or key.name in ("mock_response", "tags", "tag_regex"):
            continue
        value = _value_for(key, provider_server.url)
        if value is not None:
            params[key.name] = value
    params["guidance_scale"] = 7.5  # a provider parameter: the only extra field that may travel
    config = base(credential_list=[{"credential_name": "shared", "credential_values": {"api_version": "2024-10-21"}}])
    config["model_list"][0]["litellm_params"] = params
    gateway = create_app(load(config))
    before = len(provider_server.seen)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        answer = await client.post("/v1/images/generations", json={"model": "sd", "prompt": "otter"}, headers=auth())
    await gateway.engine.aclose()

    assert answer.status_code == 200, answer.text
    received = provider_server.seen[before:]
    assert len(received) == 1
    body = received[0]["body"]
    assert set(body) == {"model", "prompt", "guidance_scale"}, body
    assert body["model"] == "sd-xl"
    assert "value-0123456789" not in json.dumps(body)


def test_library_calls_keep_settings_out_of_the_body_and_refuse_unknown_secrets() -> None:
    """Known settings a provider does not read are dropped; an unknown secret-named key is refused, value unseen."""
    engine = make_engine(pixmux_openai.provider, handler=mock_handler)
    engine.image_generation(
        "otter",
        model="openai/sd-xl",
        api_base="http://up.test/v1",
        api_key=UPSTREAM_KEY,
        aws_secret_access_key="aws-secret-never-sent",
        vertex_credentials="{}",
        input_cost_per_image=0.1,
        extra_headers={"x-tenant": "marketing"},
        seed=7,
    )

    sent = engine.requests[0]
    assert json.loads(sent.content) == {"model": "sd-xl", "prompt": "otter", "seed": 7}
    assert sent.headers["x-tenant"] == "marketing"
    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(
            "otter", model="openai/sd-xl", api_base="http://up.test/v1", my_service_token="tok-never-shown"
        )
    assert caught.value.param == "my_service_token"
    assert "tok-never-shown" not in str(caught.value)
    assert len(engine.requests) == 1


def test_every_honoured_router_and_general_key_is_acted_on() -> None:
    """An honoured router_settings key is a Router argument or read by the loader; none is silently dropped."""
    from pixmux.proxy import config as loader
    from pixmux.proxy.settings import REDIS_ROUTER_KEYS
    from pixmux.router import ROUTER_SETTINGS

    for key in litellm_keys.section_keys("router_settings"):
        if key.kind == HONOURED:
            acted = ROUTER_SETTINGS + loader._LOADER_ROUTER_KEYS + REDIS_ROUTER_KEYS
            assert key.name in acted, key.name
    for name in ROUTER_SETTINGS:
        assert litellm_keys.lookup("router_settings", name) is not None, name


def test_library_calls_read_litellm_setting_aliases() -> None:
    """vertex_ai_credentials, aws_bedrock_runtime_endpoint and region_name land where the plugin reads them."""
    import pixmux_bedrock.provider
    import pixmux_vertex_ai.provider

    engine = make_engine(pixmux_bedrock.provider, pixmux_vertex_ai.provider, handler=mock_handler)

    bedrock = engine.prepare(
        prompt="otter",
        model="bedrock/amazon.nova-canvas-v1:0",
        region_name="eu-west-1",
        aws_bedrock_runtime_endpoint="https://vpce.example.test",
    )
    vertex = engine.prepare(
        prompt="otter", model="vertex_ai/gemini-2.5-flash-image", vertex_ai_credentials="/etc/sa.json"
    )

    assert bedrock.deployment.settings["aws_region_name"] == "eu-west-1"
    assert bedrock.deployment.api_base == "https://vpce.example.test"
    assert vertex.deployment.settings["vertex_credentials"] == "/etc/sa.json"
    assert "region_name" not in bedrock.request.params


def test_a_secret_named_provider_parameter_stops_the_start() -> None:
    """A secret-named litellm_params key no provider takes would travel in the body: the start stops, value unseen."""
    config = base()
    config["model_list"][0]["litellm_params"]["my_service_token"] = "tok-never-shown-0123"

    with pytest.raises(ConfigError) as caught:
        create_app(load(config), engine=make_engine(pixmux_openai.provider, handler=mock_handler))

    assert caught.value.param == "model_list[0].litellm_params.my_service_token"
    assert "tok-never-shown-0123" not in caught.value.message
