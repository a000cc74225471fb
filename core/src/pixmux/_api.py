"""The public call functions, with the whole parameter list spelled out."""

from __future__ import annotations

from typing import Any

from pixmux._engine import DEFAULT_MODEL, default_engine
from pixmux._retry import DEFAULT_NUM_RETRIES, retries_given
from pixmux.types import ImageResponse


def image_generation(
    prompt: str,
    model: str = DEFAULT_MODEL,
    *,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    **provider_params: Any,
) -> ImageResponse:
    """
    Generate images from a prompt with any installed provider.

    Args:
        prompt: what to draw.
        model: ``"provider/model"`` (``"bedrock/amazon.nova-canvas-v1:0"``), or a bare OpenAI
            name (``"gpt-image-1"``).
        n: how many images.
        quality, response_format, size, style, user: OpenAI's parameters; each provider maps
            them to its own or refuses what its model cannot do.
        timeout: seconds for the whole call, follow-ups and retries included.
        num_retries: how many more times to try after a 429, 408, 5xx, connection error or
            timeout (never after a refusal or another 4xx), waiting with exponential backoff
            and jitter, or as long as the provider's ``Retry-After`` says, within ``timeout``.
        api_key, api_base, api_version: credentials and endpoint; by default read from the
            provider's environment variables.
        custom_llm_provider: force a provider for a model name without a prefix.
        drop_params: drop parameters the model does not accept (with a ``PixmuxWarning``
            naming each) instead of raising ``UnsupportedParamsError``.
        mock_response: return a well-formed response without any network: ``True`` for a
            1x1 PNG per image, a base64 string or URL to return, an ``ImageResponse`` or dict,
            or an exception to raise. Parameters are still validated.
        **provider_params: provider-specific parameters (``seed``, ``negative_prompt``,
            ``background``...) sent in the provider's body, and provider settings
            (``aws_region_name``, ``vertex_ai_project``...) that are not.

    Returns:
        An ``ImageResponse``: OpenAI's ``ImagesResponse`` with ``cost`` and ``metadata`` beside it.

    Raises:
        PixmuxError: the subclass that says what went wrong (see ``pixmux.exceptions``).
    """
    engine = default_engine()
    retries = retries_given(num_retries, provider_params)
    call = engine.prepare(
        prompt=prompt,
        model=model,
        n=n,
        quality=quality,
        response_format=response_format,
        size=size,
        style=style,
        user=user,
        timeout=timeout,
        api_key=api_key,
        api_base=api_base,
        api_version=api_version,
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        **provider_params,
    )
    return engine.run(call, mock=mock_response, retries=retries)


async def aimage_generation(
    prompt: str,
    model: str = DEFAULT_MODEL,
    *,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    style: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    **provider_params: Any,
) -> ImageResponse:
    """The async twin of :func:`image_generation`: same parameters, never blocks the event loop."""
    engine = default_engine()
    retries = retries_given(num_retries, provider_params)
    call = engine.prepare(
        prompt=prompt,
        model=model,
        n=n,
        quality=quality,
        response_format=response_format,
        size=size,
        style=style,
        user=user,
        timeout=timeout,
        api_key=api_key,
        api_base=api_base,
        api_version=api_version,
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        **provider_params,
    )
    return await engine.arun(call, mock=mock_response, retries=retries)
