"""Model strings: which provider serves a model, and the errors when none does."""

from __future__ import annotations

from pathlib import Path

import pixmux_openai.provider as openai_plugin
import pytest
from pixmux import ConfigurationError, Engine, ProviderNotFoundError
from pixmux._plugins import Registry, distribution_for


@pytest.fixture
def registry(fake: object) -> Registry:
    """A registry holding the OpenAI plugin and the fake provider, nothing discovered."""
    return Registry(plugins={"openai": openai_plugin, "fake": fake}, discover=False)


@pytest.mark.parametrize(
    "model",
    ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "dall-e-2", "dall-e-3", "chatgpt-image-latest"],
)
def test_resolve_bare_openai_names_mean_openai(registry: Registry, model: str) -> None:
    """A bare OpenAI model name needs no prefix."""
    assert ("openai", model) == registry.resolve(model)


def test_resolve_provider_prefix_names_the_provider(registry: Registry) -> None:
    """``provider/name`` picks the provider and passes the rest as the model name."""
    assert registry.resolve("fake/m1") == ("fake", "m1")
    assert registry.resolve("openai/gpt-image-1") == ("openai", "gpt-image-1")


def test_resolve_keeps_slashes_after_the_prefix(registry: Registry) -> None:
    """Only the first slash splits: model ids with slashes (``org/model``) survive."""
    assert registry.resolve("openai/stabilityai/sdxl") == ("openai", "stabilityai/sdxl")


def test_resolve_custom_llm_provider_forces_the_provider(registry: Registry) -> None:
    """``custom_llm_provider`` serves a bare name that is not OpenAI's, and strips its own prefix."""
    assert registry.resolve("m1", custom_llm_provider="fake") == ("fake", "m1")
    assert registry.resolve("fake/m1", custom_llm_provider="fake") == ("fake", "m1")
    assert registry.resolve("my-sd-model", custom_llm_provider="openai") == ("openai", "my-sd-model")


def test_resolve_unknown_provider_lists_installed_and_names_the_package(registry: Registry) -> None:
    """An unknown prefix raises ProviderNotFoundError listing what is installed and what to install."""
    with pytest.raises(ProviderNotFoundError) as caught:
        registry.resolve("vertex_ai/imagen-4.0-generate-001")

    message = str(caught.value)
    assert "'vertex_ai'" in message
    assert "fake, openai" in message
    assert "pip install pixmux-vertex-ai" in message
    assert caught.value.param == "model"
    assert caught.value.status_code == 404


def test_resolve_unknown_bare_name_says_how_to_name_the_provider(registry: Registry) -> None:
    """A bare name that is not OpenAI's asks for a prefix and lists the installed providers."""
    with pytest.raises(ProviderNotFoundError) as caught:
        registry.resolve("stable-diffusion-xl")

    message = str(caught.value)
    assert "provider/stable-diffusion-xl" in message
    assert "fake, openai" in message
    assert "custom_llm_provider" in message


@pytest.mark.parametrize("model", ["", "   ", None, 3])
def test_resolve_rejects_a_missing_model(registry: Registry, model: object) -> None:
    """An empty or non-string model is a ConfigurationError naming ``model``."""
    with pytest.raises(ConfigurationError) as caught:
        registry.resolve(model)  # type: ignore[arg-type]

    assert caught.value.param == "model"


def test_resolve_unknown_custom_llm_provider_fails_on_use(fake: object) -> None:
    """A forced provider nobody installed raises ProviderNotFoundError when the call is prepared."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    with pytest.raises(ProviderNotFoundError) as caught:
        engine.prepare(prompt="otter", model="m1", custom_llm_provider="nscale")

    assert "pip install pixmux-nscale" in str(caught.value)
    assert "installed: fake" in str(caught.value)


def test_resolve_bare_openai_name_without_the_openai_plugin(fake: object) -> None:
    """``gpt-image-1`` with no OpenAI plugin installed says to install pixmux-openai."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    with pytest.raises(ProviderNotFoundError) as caught:
        engine.prepare(prompt="otter", model="gpt-image-1")

    assert "pip install pixmux-openai" in str(caught.value)


def test_resolve_nothing_installed_says_none() -> None:
    """With no provider at all the message says so instead of listing nothing."""
    registry = Registry(plugins={}, discover=False)

    with pytest.raises(ProviderNotFoundError, match=r"installed: none"):
        registry.resolve("recraft/recraftv3")


def test_distribution_for_turns_underscores_into_dashes() -> None:
    """Provider names map to the ``pixmux-<name>`` distribution they are published as."""
    assert distribution_for("vertex_ai") == "pixmux-vertex-ai"
    assert distribution_for("openai") == "pixmux-openai"


def test_prepare_splits_model_and_provider_into_request_and_deployment(fake: object) -> None:
    """The prepared call carries the provider name in the deployment and the bare name in both."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    call = engine.prepare(prompt="otter", model="fake/m1")

    assert call.deployment.provider == "fake"
    assert call.deployment.model == "m1"
    assert call.request.model == "m1"
    assert call.info.known


def test_install_hint_also_says_how_to_install_from_a_checkout(fake: object) -> None:
    """The hint names the published package and the plugin's folder in a checkout (vertex_ai: plugins/vertex-ai)."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    with pytest.raises(ProviderNotFoundError) as caught:
        engine.prepare(prompt="otter", model="vertex_ai/imagen-4.0-generate-001")

    assert "pip install pixmux-vertex-ai" in str(caught.value)
    assert "pip install ./plugins/vertex-ai" in str(caught.value)
    assert (Path(__file__).resolve().parents[2] / "plugins" / "vertex-ai" / "pyproject.toml").exists()
