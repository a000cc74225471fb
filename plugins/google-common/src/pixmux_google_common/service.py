"""
What a Google provider's hooks do beyond the URL and the credentials, in one place.

:func:`wire_bodies` picks the API from the catalogue entry (``extra["api"]``) and builds the
body or bodies to send; :func:`read_response` reads a response of either API, success or error.
The ``vertex_ai`` and ``gemini`` providers differ only in endpoint and authentication.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx
from pixmux.catalogue import ModelInfo
from pixmux.types import ImageRequest, ImageResponse

from pixmux_google_common.errors import google_error
from pixmux_google_common.generate_content import build_generate_content_body, parse_generate_content
from pixmux_google_common.imagen import build_predict_body, parse_predict
from pixmux_google_common.models import PREDICT
from pixmux_google_common.sizes import choose_size

__all__ = ["WireCall", "wire_call", "read_response"]


@attrs.frozen(kw_only=True)
class WireCall:
    """The method to call (``"predict"`` or ``"generateContent"``) and the JSON bodies to POST to it."""

    method: str
    bodies: tuple[dict[str, Any], ...]


def wire_call(request: ImageRequest, info: ModelInfo, *, provider: str) -> WireCall:
    """
    The method and bodies for a validated request: one ``:predict`` body for all ``n`` Imagen
    images, or one ``:generateContent`` body per Gemini image.
    """
    choice = choose_size(request, info, provider=provider)
    if info.extra.get("api", PREDICT) == PREDICT:
        return WireCall(method="predict", bodies=(build_predict_body(request, info, choice),))
    body = build_generate_content_body(request, info, choice)
    return WireCall(method="generateContent", bodies=tuple(body for _ in range(request.n or 1)))


def read_response(response: httpx.Response, request: ImageRequest, info: ModelInfo, *, provider: str) -> ImageResponse:
    """
    The ``ImageResponse`` for a Google response, or the typed error it means.

    The method is read from the URL the response answers (``…:predict`` or ``…:generateContent``),
    so an ``api_base`` pointing elsewhere still parses right. A size that was approximated is
    reported in ``metadata["approximation"]``.
    """
    if response.is_error:
        raise google_error(response, provider=provider, info=info)
    try:
        path = response.request.url.path
    except RuntimeError:  # a response built by hand, with no request attached
        path = ""
    if path.endswith(":predict") or (not path.endswith(":generateContent") and info.extra.get("api") == PREDICT):
        parsed = parse_predict(response, request, provider=provider, model=info.name)
    else:
        parsed = parse_generate_content(response, request, provider=provider, model=info.name)
    note = choose_size(request, info, provider=provider).note
    return parsed.with_metadata(approximation=note) if note else parsed
