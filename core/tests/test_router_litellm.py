"""The router's LiteLLM keys: cost-based routing, per-deployment prices, stream_timeout."""

from __future__ import annotations

import math
from typing import Any

import pytest
from core_support import Hosts, entry, router_for
from pixmux import _pricing


def priced(name: str, host: str, **info: Any) -> dict[str, Any]:
    found = entry(name, host)
    found["model_info"].update(info)
    return found


def test_cost_based_routing_uses_the_catalogue_price_for_the_size() -> None:
    """Without model_info prices, the catalogue's price for the request's size and quality decides."""
    hosts = Hosts()
    dalle3 = entry("images", "dalle3")
    dalle3["litellm_params"]["model"] = "openai/dall-e-3"
    dalle2 = entry("images", "dalle2")
    dalle2["litellm_params"]["model"] = "openai/dall-e-2"
    router = router_for(hosts, [dalle3, dalle2], routing_strategy="cost-based-routing")

    for _ in range(4):
        response = router.image_generation("otter", model="images", size="1024x1024")
        assert response.metadata["deployment"] == "dalle2"  # $0.020 against $0.040

    assert hosts.hits == {"dalle2": 4}


def test_cost_based_routing_puts_unpriced_deployments_last() -> None:
    """A deployment whose price is unknown is chosen only when every priced one is unavailable."""
    hosts = Hosts()
    unknown = entry("images", "unknown")
    unknown["litellm_params"]["model"] = "openai/house-model"
    router = router_for(
        hosts, [unknown, priced("images", "priced", output_cost_per_image=0.5)], routing_strategy="cost-based-routing"
    )

    response = router.image_generation("otter", model="images")

    assert response.metadata["deployment"] == "priced"
    assert response.cost == pytest.approx(0.5)


def test_model_info_prices_replace_the_catalogue_in_the_cost() -> None:
    """output_cost_per_image and per-pixel prices cost a routed call, for n images of the asked size."""
    hosts = Hosts()
    router = router_for(
        hosts,
        [priced("images", "a", output_cost_per_image=0.01, output_cost_per_pixel=0.000000001)],
    )

    response = router.image_generation("otter", model="images", size="1024x1536", n=2)

    assert response.cost == pytest.approx(2 * (0.01 + 1024 * 1536 * 0.000000001))


def test_pixel_price_without_a_known_size_gives_no_cost_rather_than_a_wrong_one() -> None:
    """A per-pixel price and an 'auto' size: the cost is unknown (None), never a guess."""
    assert _pricing.deployment_cost({"input_cost_per_pixel": 1e-8}, images=1, size="auto") is None
    assert _pricing.deployment_cost({"output_cost_per_image": 0.2}, images=3, size=None) == pytest.approx(0.6)
    assert _pricing.deployment_cost({"description": "no prices"}, images=1, size="1024x1024") is None


def test_stream_timeout_bounds_streamed_attempts_only() -> None:
    """A deployment's stream_timeout bounds an attempt made with stream=True; others keep timeout."""
    router = router_for(Hosts(), [entry("images", "a", timeout=30, stream_timeout=4)])

    streamed = router._plan("images", {"stream": True}).next()
    plain = router._plan("images", {}).next()

    assert streamed[2] == pytest.approx(4)
    assert plain[2] == pytest.approx(30)


def test_estimate_is_the_catalogue_price_or_infinite_when_unknown() -> None:
    """The price cost-based routing compares: known for a listed size, infinite for a size nobody prices."""
    router = router_for(Hosts(), [entry("images", "a")])
    deployment = router.deployments[0]

    assert _pricing.estimate(router.engine, deployment, {"size": "1024x1024", "quality": "low"}, 2) > 0
    assert math.isinf(_pricing.estimate(router.engine, deployment, {"size": "999x1"}, 1))
