"""
The provider contract: the hook specifications every provider plugin implements.

A provider plugin is a module (or object) with functions marked ``@pixmux.hookimpl``
whose names match these specs. Each hookimpl takes only the arguments it names, so a spec
can gain arguments later without breaking plugins.

The hooks are pure: they take plain values and return plain values. They never open a
connection, sleep, read the environment or ``await``; the core does all I/O. That is why
every plugin works in the sync and the async path alike, and why tests can call hooks directly.
The one exception is ``resolve_auth``, which may block (a credential chain, a token refresh):
the core calls it off the event loop and caches what it returns.

The core calls every hook by keyword, as pluggy does: the order of a spec's parameters never
matters. ``build_request`` and ``parse_response`` are required; the rest are optional.

Order of a call: ``model_catalogue`` (once per provider) → ``validate_params`` →
``resolve_auth`` (cached) → ``build_request`` → core sends → ``parse_response``
(→ ``FollowUp`` → core sends → ``parse_response`` …).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import httpx

    from pixmux.catalogue import Catalogue, ModelInfo
    from pixmux.types import Auth, Deployment, FollowUp, ImageRequest, ImageResponse, ImageStreamEvent, ServerSentEvent

__all__ = [
    "hookspec",
    "hookimpl",
    "PROJECT",
    "model_catalogue",
    "validate_params",
    "resolve_auth",
    "build_request",
    "parse_response",
    "parse_event",
]

PROJECT = "pixmux"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def model_catalogue() -> Catalogue:  # type: ignore[empty-body]
    """
    Describe the provider: its models, what each accepts and costs, and where its credentials live.

    Pure: builds and returns data; called once per provider and cached by the core.

    Returns:
        The provider's :class:`~pixmux.catalogue.Catalogue`.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def validate_params(request: ImageRequest, model: ModelInfo, deployment: Deployment) -> ImageRequest | None:
    """
    Check the normalized request against what this model accepts, before anything is sent.

    Pure: no network, no sleeping, no environment. Most plugins call
    :func:`pixmux.catalogue.check_request` and add the rules the catalogue cannot express.
    With ``drop_params=True`` the core drops each parameter this hook names in an
    ``UnsupportedParamsError`` and calls it again, so plugins need not know about dropping.

    Args:
        request: the normalized request.
        model: the catalogue entry for ``request.model`` (``known=False`` if the catalogue does not list it).
        deployment: where the request will go (a hook may read ``settings`` such as ``base_model``).

    Returns:
        ``None`` to accept the request as it is, or a changed copy (for example with a size
        mapped to the nearest one the model supports; say so with ``warnings.warn``).

    Raises:
        UnsupportedParamsError: naming ``param``, the value and what is accepted.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def resolve_auth(deployment: Deployment) -> Auth | None:
    """
    Resolve credentials that need more than a key: a signing identity, an OAuth token.

    The only hook allowed to block (credential chains, token refresh through the provider's SDK).
    The core calls it in a worker thread on the async path, caches the result per deployment
    until ``Auth.expires_at`` (less a safety margin), and passes it to ``build_request`` as ``auth``.

    Args:
        deployment: the deployment whose credentials are wanted.

    Returns:
        An :class:`~pixmux.types.Auth`, or ``None`` when the deployment's ``api_key`` is all that is needed.

    Raises:
        AuthenticationError: the credentials cannot be found or are refused.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def build_request(  # type: ignore[empty-body]
    request: ImageRequest, deployment: Deployment, model: ModelInfo, auth: Auth | None
) -> httpx.Request | Sequence[httpx.Request]:
    """
    Translate the request into the provider's wire request: method, URL, headers, body.

    Pure: build and return an ``httpx.Request``; do not send it. Signing (SigV4) and auth
    headers belong here. Return several requests when the provider needs one call per image
    (no ``n`` on the wire): the core sends them concurrently and merges the responses.

    Args:
        request: the validated request.
        deployment: endpoint, credentials and provider settings.
        model: the catalogue entry for the model.
        auth: what ``resolve_auth`` returned, or ``None``.

    Returns:
        One ``httpx.Request``, or a sequence of them.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def parse_response(  # type: ignore[empty-body]
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """
    Turn the provider's wire response, success or error, into an ``ImageResponse``, or raise.

    Pure: read ``response`` (its body is already loaded) and return a value. A refusal the
    provider reports as a success (a finish reason, a filtered or missing image) is a
    ``ContentPolicyViolationError``, never an empty result; when it withheld some images and
    delivered others, return the delivered ones with a :class:`~pixmux.types.Refusal` per
    withheld image in ``ImageResponse.refused`` (the core raises when no image is left).

    Args:
        response: the provider's response; ``response.request`` is the request that produced it.
        request: the normalized request.
        deployment: where it was sent.
        model: the catalogue entry.

    Returns:
        The ``ImageResponse``, or a :class:`~pixmux.types.FollowUp` asking the core for one more round trip.

    Raises:
        PixmuxError: the subclass matching the status, the provider's error code or the refusal.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def parse_event(
    event: ServerSentEvent, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageStreamEvent | None:
    """
    Turn one server-sent event of a streamed answer into a partial or completed image event.

    Called only for models whose catalogue entry says ``streaming=True``, when the caller asked
    ``stream=True``. The core sends the request ``build_request`` built (with ``stream``
    set on ``request``), frames the answer's server-sent events and hands them here one by one.
    Pure, like ``parse_response``: read the event and return a value. An answer that is not a
    stream (an error status) still goes to ``parse_response``.

    Args:
        event: one event, as framed by the core (``event``, ``data``, ``id``).
        request: the normalized request.
        deployment: where it was sent.
        model: the catalogue entry.

    Returns:
        An :class:`~pixmux.types.ImageStreamEvent`, or ``None`` for an event that carries no
        image (a keep-alive, ``[DONE]``, a type this plugin does not know).

    Raises:
        PixmuxError: the typed error an error event stands for; the stream ends with it.

    .. versionadded:: 1.1
    """


HOOK_NAMES: Sequence[str] = (
    "model_catalogue",
    "validate_params",
    "resolve_auth",
    "build_request",
    "parse_response",
    "parse_event",
)
