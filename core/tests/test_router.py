"""The router's configuration, model groups and routing strategies (faults are in test_router_faults.py)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pixmux
import pixmux_openai.provider as openai_provider
import pytest
from core_support import KEY, Clock, Hosts, entry, ok, router_for
from pixmux import ConfigurationError, NotFoundError, RateLimitError, Router
from pixmux.router import ROUTER_SETTINGS
from pixmux.testing import make_engine

# --------------------------------------------------------------------------- configuration


def test_router_groups_deployments_by_model_name() -> None:
    """Deployments sharing a model_name form one group, in config order; ids come from model_info."""
    router = router_for(Hosts(), [entry("img", "a"), entry("img", "b"), entry("other", "c")])

    assert router.model_names == ["img", "other"]
    assert [d.id for d in router.group("img")] == ["a", "b"]
    assert router.group("other")[0].model == "openai/gpt-image-1"


def test_router_deployment_ids_default_to_name_and_index() -> None:
    """Without model_info.id a deployment is called ``<model_name>-<index>``."""
    router = router_for(Hosts(), [{"model_name": "img", "params": {"model": "openai/gpt-image-1"}}])

    assert router.group("img")[0].id == "img-0"


def test_router_takes_router_keys_out_of_params() -> None:
    """rpm, weight, timeout, max_retries, order... steer the router and never reach the provider call."""
    router = router_for(
        Hosts(),
        [
            entry(
                "img",
                "a",
                rpm=30,
                tpm=1000,
                weight=3,
                timeout=45,
                max_retries=2,
                order=1,
                max_parallel_requests=4,
                seed=7,
            )
        ],
    )

    deployment = router.group("img")[0]

    assert (deployment.rpm, deployment.weight, deployment.timeout, deployment.max_retries) == (30, 3.0, 45.0, 2)
    assert (deployment.order, deployment.max_parallel_requests) == (1, 4)
    assert set(deployment.params) == {"model", "api_base", "api_key", "seed"}


def test_router_unknown_setting_is_a_configuration_error_naming_it() -> None:
    """A router_settings key the router does not know raises ConfigurationError naming the key."""
    with pytest.raises(ConfigurationError) as caught:
        router_for(Hosts(), [entry("img", "a")], num_retries=1, redis_host="localhost")

    assert caught.value.param == "redis_host"
    assert "redis_host" in str(caught.value)


def test_router_accepts_every_documented_setting() -> None:
    """Every key in ROUTER_SETTINGS is a keyword of Router."""
    values: dict[str, Any] = {
        "num_retries": 3,
        "timeout": 30,
        "fallbacks": [{"img": ["other"]}],
        "content_policy_fallbacks": [{"img": ["other"]}],
        "default_fallbacks": ["other"],
        "max_fallbacks": 2,
        "routing_strategy": "least-busy",
        "routing_strategy_args": {"lowest_latency_buffer": 0.2},
        "cooldown_time": 10,
        "allowed_fails": 1,
        "allowed_fails_policy": {"RateLimitErrorAllowedFails": 5},
        "disable_cooldowns": False,
        "retry_after": 0.5,
        "retry_policy": {"RateLimitErrorRetries": 4, "BadRequestErrorRetries": 0},
        "model_group_alias": {"dall-e-3": "img"},
        "default_litellm_params": {"drop_params": True},
    }
    assert set(values) == set(ROUTER_SETTINGS)

    router = router_for(Hosts(), [entry("img", "a"), entry("other", "b")], **values)

    assert router.num_retries == 3
    assert router.fallbacks == {"img": ("other",)}
    assert router.routing_strategy == "least-busy"


@pytest.mark.parametrize(
    ("settings", "param"),
    [
        ({"routing_strategy": "cheapest-first"}, "routing_strategy"),
        ({"fallbacks": [{"img": ["nope"]}]}, "fallbacks.img"),
        ({"fallbacks": [{"nope": ["img"]}]}, "fallbacks"),
        ({"fallbacks": "img"}, "fallbacks"),
        ({"content_policy_fallbacks": [["img"]]}, "content_policy_fallbacks"),
        ({"cooldown_time": -1}, "cooldown_time"),
        ({"timeout": 0}, "timeout"),
        ({"num_retries": -1}, "num_retries"),
        ({"allowed_fails": 1.5}, "allowed_fails"),
        ({"retry_policy": {"BadRequestErrorRetries": 2}}, "retry_policy.BadRequestErrorRetries"),
        ({"retry_policy": {"SlowErrorRetries": 2}}, "retry_policy.SlowErrorRetries"),
        ({"allowed_fails_policy": {"Whatever": 1}}, "allowed_fails_policy.Whatever"),
        ({"routing_strategy_args": {"speed": 1}}, "routing_strategy_args.speed"),
        ({"model_group_alias": {"x": "nope"}}, "model_group_alias.x"),
    ],
)
def test_router_rejects_bad_settings_naming_them(settings: dict[str, Any], param: str) -> None:
    """A wrong router setting is a ConfigurationError whose param names it."""
    with pytest.raises(ConfigurationError) as caught:
        router_for(Hosts(), [entry("img", "a")], **settings)

    assert caught.value.param == param


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"rpm": 0}, "model_list[0].litellm_params.rpm"),
        ({"rpm": 1.5}, "model_list[0].litellm_params.rpm"),
        ({"weight": -1}, "model_list[0].litellm_params.weight"),
        ({"timeout": "soon"}, "model_list[0].litellm_params.timeout"),
        ({"max_retries": -2}, "model_list[0].litellm_params.max_retries"),
    ],
)
def test_router_rejects_bad_deployment_settings_naming_them(params: dict[str, Any], param: str) -> None:
    """A wrong per-deployment setting names its place in model_list."""
    with pytest.raises(ConfigurationError) as caught:
        router_for(Hosts(), [entry("img", "a", **params)])

    assert caught.value.param == param


@pytest.mark.parametrize(
    "model_list",
    [
        [],
        "img",
        [{"model_name": "img"}],
        [{"litellm_params": {"model": "openai/x"}}],
        [entry("i", "a"), entry("i", "a")],
    ],
)
def test_router_rejects_bad_model_lists(model_list: Any) -> None:
    """An empty or malformed model_list, or a repeated id, is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        router_for(Hosts(), model_list)


def test_router_reads_os_environ_references_from_the_engine_environment() -> None:
    """``os.environ/NAME`` values are read from the engine's environment; a missing one is named, not shown."""
    engine = make_engine(openai_provider, handler=ok, environ={"EU_KEY": KEY})
    model_list = [entry("img", "a", api_key="os.environ/EU_KEY")]

    router = Router(model_list, engine=engine)

    assert router.group("img")[0].params["api_key"] == KEY
    with pytest.raises(ConfigurationError) as caught:
        Router([entry("img", "a", api_key="os.environ/MISSING_KEY")], engine=engine)
    assert "MISSING_KEY" in str(caught.value)


def test_router_unknown_model_is_not_found() -> None:
    """Asking for a model name that is not configured is a NotFoundError listing what is."""
    router = router_for(Hosts(), [entry("img", "a")])

    with pytest.raises(NotFoundError) as caught:
        router.image_generation("otter", model="nope")

    assert "img" in str(caught.value)


def test_router_model_group_alias_routes_to_its_group() -> None:
    """A model_group_alias name is served by the group it names."""
    hosts = Hosts()
    router = router_for(hosts, [entry("img", "a")], model_group_alias={"dall-e-3": "img"})

    response = router.image_generation("otter", model="dall-e-3")

    assert response.metadata["deployment"] == "a"
    assert response.metadata["model_group"] == "img"


def test_router_repr_and_metadata_hold_no_secret() -> None:
    """Deployment reprs and response metadata never show an api_key."""
    router = router_for(Hosts(), [entry("img", "a")])

    response = router.image_generation("otter", model="img")

    assert KEY not in repr(router.deployments)
    assert KEY not in repr(dict(response.metadata))


def test_router_is_exported_from_pixmux() -> None:
    """``pixmux.Router`` is the router."""
    assert pixmux.Router is Router


# --------------------------------------------------------------------------- strategies


def test_router_weighted_shuffle_follows_weights() -> None:
    """A deployment with weight 0 gets no traffic while another has weight; equal weights share it."""
    hosts = Hosts()
    router = router_for(
        hosts, [entry("img", "a", weight=0), entry("img", "b", weight=1), entry("even", "c"), entry("even", "d")]
    )

    for _ in range(40):
        router.image_generation("otter", model="img")
        router.image_generation("otter", model="even")

    assert hosts.hits["a"] == 0
    assert hosts.hits["b"] == 40
    assert hosts.hits["c"] > 0
    assert hosts.hits["d"] > 0


def test_router_least_busy_picks_the_idle_deployment() -> None:
    """With one deployment busy on a slow call, least-busy sends the next call to the other."""
    release = asyncio.Event()
    arrived: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        arrived.append(request.url.host)
        if len(arrived) == 1:
            await release.wait()
        return ok(request)

    router = router_for(Hosts(a=slow, b=slow), [entry("img", "a"), entry("img", "b")], routing_strategy="least-busy")

    async def main() -> None:
        first = asyncio.create_task(router.aimage_generation("otter", model="img"))
        while not arrived:
            await asyncio.sleep(0)
        second = await router.aimage_generation("otter", model="img")
        release.set()
        await first
        assert second.metadata["deployment"] != arrived[0].removesuffix(".test")

    asyncio.run(main())


def test_router_lowest_latency_prefers_the_fast_deployment() -> None:
    """Once both are measured, latency-based routing sends traffic to the faster deployment."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return ok(request)

    hosts = Hosts(a=slow)
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], routing_strategy="lowest-latency")

    async def main() -> None:
        for _ in range(12):
            await router.aimage_generation("otter", model="img")

    asyncio.run(main())

    assert hosts.hits["a"] == 1  # measured once, then avoided
    assert hosts.hits["b"] == 11
    health = router.health()
    assert (health["a"].latency or 0) > (health["b"].latency or 0)


def test_router_usage_based_routing_spreads_images_by_rpm() -> None:
    """usage-based-routing sends each call to the deployment with the lowest use of its rpm."""
    hosts = Hosts()
    router = router_for(
        hosts,
        [entry("img", "a", rpm=100), entry("img", "b", rpm=300)],
        routing_strategy="usage-based-routing",
        clock=Clock(),
    )

    for _ in range(40):
        router.image_generation("otter", model="img")

    assert hosts.hits["a"] == 10
    assert hosts.hits["b"] == 30


def test_router_rpm_counts_images_and_refuses_over_the_limit() -> None:
    """rpm limits images per minute: a call that would pass it is refused with a 429, until the minute passes."""
    clock = Clock()
    hosts = Hosts()
    router = router_for(hosts, [entry("img", "a", rpm=3)], clock=clock)

    router.image_generation("otter", model="img", n=2)
    with pytest.raises(RateLimitError) as caught:
        router.image_generation("otter", model="img", n=2)
    clock.now += 61
    router.image_generation("otter", model="img", n=2)

    assert hosts.hits["a"] == 2
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60


def test_router_rpm_moves_traffic_to_deployments_with_room() -> None:
    """A deployment at its rpm is skipped while another of the group has room."""
    hosts = Hosts()
    router = router_for(hosts, [entry("img", "a", rpm=5, order=1), entry("img", "b", order=2)], clock=Clock())

    for _ in range(8):
        router.image_generation("otter", model="img")

    assert hosts.hits == Counter({"a": 5, "b": 3})
    assert router.health()["a"].images_last_minute == 5


def test_router_order_prefers_lower_order() -> None:
    """Deployments with the lowest order take all traffic while they are available."""
    hosts = Hosts()
    router = router_for(hosts, [entry("img", "a", order=2), entry("img", "b", order=1)])

    for _ in range(10):
        router.image_generation("otter", model="img")

    assert hosts.hits == Counter({"b": 10})


def test_router_max_parallel_requests_caps_in_flight_calls() -> None:
    """A deployment at max_parallel_requests is skipped for the others of its group."""
    release = asyncio.Event()
    waiting: list[str] = []

    async def slow(request: httpx.Request) -> httpx.Response:
        waiting.append(request.url.host)
        await release.wait()
        return ok(request)

    hosts = Hosts(a=slow, b=slow)
    router = router_for(hosts, [entry("img", "a", max_parallel_requests=1, order=1), entry("img", "b", order=2)])

    async def main() -> list[pixmux.ImageResponse]:
        tasks = [asyncio.create_task(router.aimage_generation("otter", model="img")) for _ in range(3)]
        while len(waiting) < 3:
            await asyncio.sleep(0)
        release.set()
        return list(await asyncio.gather(*tasks))

    responses = asyncio.run(main())

    assert sorted(r.metadata["deployment"] for r in responses) == ["a", "b", "b"]
    assert router.health()["a"].in_flight == 0


def test_router_pick_chooses_without_reserving() -> None:
    """``pick`` names the deployment the strategy would choose, and leaves nothing in flight."""
    router = router_for(Hosts(), [entry("img", "a", order=1), entry("img", "b", order=2)])

    assert router.pick("img").id in ("a", "b")
    assert all(h.in_flight == 0 for h in router.health().values())


def test_router_default_litellm_params_apply_unless_overridden() -> None:
    """default_litellm_params reach every call; the call's and the deployment's own values win."""
    sent: list[dict[str, Any]] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return ok(request)

    router = router_for(
        Hosts(a=record),
        [entry("img", "a", quality="high")],
        default_litellm_params={"quality": "low", "user": "team-1"},
    )

    router.image_generation("otter", model="img")
    router.image_generation("otter", model="img", user="team-2")

    assert [(s["quality"], s["user"]) for s in sent] == [("high", "team-1"), ("high", "team-2")]
