"""The public call functions, with the whole parameter list spelled out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal, overload

from pixmux._engine import DEFAULT_MODEL, default_engine
from pixmux._retry import DEFAULT_NUM_RETRIES, retries_given
from pixmux.inputs import ImageSource
from pixmux.types import ImageResponse, ImageStreamEvent


@overload
def image_generation(
    prompt: str, model: str = ..., *, stream: Literal[False] = ..., **kwargs: Any
) -> ImageResponse: ...
@overload
def image_generation(
    prompt: str, model: str = ..., *, stream: Literal[True], **kwargs: Any
) -> Iterator[ImageStreamEvent]: ...


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
    stream: bool = False,
    **provider_params: Any,
) -> ImageResponse | Iterator[ImageStreamEvent]:
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
        stream: return an iterator of events instead of a response: partial images as the
            provider makes them (``partial_images=0..3`` says how many, for models that stream
            natively), then one ``*.completed`` event per image with ``usage`` and ``cost``. A
            model that cannot stream gives its images as completed events. Retries happen only
            before the first event.
        **provider_params: provider-specific parameters (``seed``, ``negative_prompt``,
            ``background``...) sent in the provider's body, and provider settings
            (``aws_region_name``, ``vertex_ai_project``...) that are not.

    Returns:
        An ``ImageResponse``: OpenAI's ``ImagesResponse`` with ``cost`` and ``metadata`` beside it;
        with ``stream=True``, an iterator of ``ImageStreamEvent`` (OpenAI's stream events).

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
        stream=stream,
        **provider_params,
    )
    if stream:
        return engine.stream(call, mock=mock_response, retries=retries)
    return engine.run(call, mock=mock_response, retries=retries)


@overload
async def aimage_generation(
    prompt: str, model: str = ..., *, stream: Literal[False] = ..., **kwargs: Any
) -> ImageResponse: ...
@overload
async def aimage_generation(
    prompt: str, model: str = ..., *, stream: Literal[True], **kwargs: Any
) -> AsyncIterator[ImageStreamEvent]: ...


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
    stream: bool = False,
    **provider_params: Any,
) -> ImageResponse | AsyncIterator[ImageStreamEvent]:
    """
    The async twin of :func:`image_generation`: same parameters, never blocks the event loop.

    With ``stream=True`` it returns an async iterator: ``async for event in await aimage_generation(...)``.
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
        stream=stream,
        **provider_params,
    )
    if stream:
        return engine.astream(call, mock=mock_response, retries=retries)
    return await engine.arun(call, mock=mock_response, retries=retries)


@overload
def image_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ImageResponse: ...
@overload
def image_edit(
    image: ImageSource | Sequence[ImageSource], prompt: str, model: str = ..., *, stream: Literal[True], **kwargs: Any
) -> Iterator[ImageStreamEvent]: ...


def image_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str = DEFAULT_MODEL,
    *,
    mask: ImageSource | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    allow_urls: bool = False,
    stream: bool = False,
    **provider_params: Any,
) -> ImageResponse | Iterator[ImageStreamEvent]:
    """
    Edit one or more images as the prompt says, with any installed provider that edits.

    Args:
        image: the input image, or a list of them: each a path, bytes, a binary file object,
            a ``data:image/...;base64,`` URL or (with ``allow_urls=True``) an http(s) URL.
        prompt: what to change.
        model: as for :func:`image_generation`; the model must edit (``pixmux models`` says which do).
        mask: where to edit, for models that take a mask (OpenAI: a PNG the size of the first
            image whose transparent pixels mark the area).
        n, quality, response_format, size, user: OpenAI's parameters.
        allow_urls: fetch http(s) image URLs (bounded in size and time); off by default.
        stream: yield OpenAI's ``image_edit.partial_image`` / ``image_edit.completed`` events
            instead (see :func:`image_generation`); ``partial_images`` rides in ``provider_params``.
        timeout: as for :func:`image_generation`, and so are ``num_retries``, ``api_key``,
            ``api_base``, ``api_version``, ``custom_llm_provider``, ``drop_params``,
            ``mock_response`` and ``**provider_params`` (``input_fidelity``, ``background``,
            ``output_format`` ride in ``provider_params``).

    Returns:
        An ``ImageResponse``, as for a generation; with ``stream=True`` an iterator of events.

    Raises:
        UnsupportedParamsError: before any request is sent, when the model cannot edit (the
            message names the models that can), or an image breaks the model's limits (count,
            format, size, mask size or alpha), naming the image.
        PixmuxError: the subclass that says what went wrong.
    """
    return default_engine().image_edit(
        image,
        prompt,
        model,
        mask=mask,
        allow_urls=allow_urls,
        stream=stream,
        **_given(n, quality, response_format, size, user, timeout, num_retries, api_key, api_base, api_version),
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        mock_response=mock_response,
        **provider_params,
    )


@overload
async def aimage_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ImageResponse: ...
@overload
async def aimage_edit(
    image: ImageSource | Sequence[ImageSource], prompt: str, model: str = ..., *, stream: Literal[True], **kwargs: Any
) -> AsyncIterator[ImageStreamEvent]: ...


async def aimage_edit(
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str = DEFAULT_MODEL,
    *,
    mask: ImageSource | None = None,
    n: int | None = None,
    quality: str | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    allow_urls: bool = False,
    stream: bool = False,
    **provider_params: Any,
) -> ImageResponse | AsyncIterator[ImageStreamEvent]:
    """The async twin of :func:`image_edit`: same parameters; URLs are fetched without blocking the loop."""
    return await default_engine().aimage_edit(
        image,
        prompt,
        model,
        mask=mask,
        allow_urls=allow_urls,
        stream=stream,
        **_given(n, quality, response_format, size, user, timeout, num_retries, api_key, api_base, api_version),
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        mock_response=mock_response,
        **provider_params,
    )


def image_variation(
    image: ImageSource | Sequence[ImageSource],
    model: str = "dall-e-2",
    *,
    n: int | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    allow_urls: bool = False,
    **provider_params: Any,
) -> ImageResponse:
    """
    Make variations of one image (no prompt), with a model that makes them.

    Args:
        image: the image, given as for :func:`image_edit`.
        model: a model that makes variations (``dall-e-2``, or ``openai/<name>`` with ``api_base``).
        n, response_format, size, user: OpenAI's parameters.
        the rest: as for :func:`image_edit`.

    Raises:
        UnsupportedParamsError: the model makes no variations (the message names those that
            do), or the image breaks its limits.
        PixmuxError: the subclass that says what went wrong.
    """
    return default_engine().image_variation(
        image,
        model,
        allow_urls=allow_urls,
        **_given(n, None, response_format, size, user, timeout, num_retries, api_key, api_base, api_version),
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        mock_response=mock_response,
        **provider_params,
    )


async def aimage_variation(
    image: ImageSource | Sequence[ImageSource],
    model: str = "dall-e-2",
    *,
    n: int | None = None,
    response_format: str | None = None,
    size: str | None = None,
    user: str | None = None,
    timeout: float | None = 600,
    num_retries: int = DEFAULT_NUM_RETRIES,
    api_key: str | None = None,
    api_base: str | None = None,
    api_version: str | None = None,
    custom_llm_provider: str | None = None,
    drop_params: bool | None = None,
    mock_response: Any = None,
    allow_urls: bool = False,
    **provider_params: Any,
) -> ImageResponse:
    """The async twin of :func:`image_variation`."""
    return await default_engine().aimage_variation(
        image,
        model,
        allow_urls=allow_urls,
        **_given(n, None, response_format, size, user, timeout, num_retries, api_key, api_base, api_version),
        custom_llm_provider=custom_llm_provider,
        drop_params=drop_params,
        mock_response=mock_response,
        **provider_params,
    )


def _given(  # noqa: PLR0917 - the shared keyword arguments of the edit and variation functions
    n: int | None,
    quality: str | None,
    response_format: str | None,
    size: str | None,
    user: str | None,
    timeout: float | None,
    num_retries: int,
    api_key: str | None,
    api_base: str | None,
    api_version: str | None,
) -> dict[str, Any]:
    return {
        "n": n,
        "quality": quality,
        "response_format": response_format,
        "size": size,
        "user": user,
        "timeout": timeout,
        "num_retries": num_retries,
        "api_key": api_key,
        "api_base": api_base,
        "api_version": api_version,
    }
