"""
The values that cross pixmux: requests, deployments, images and responses.

All are frozen attrs classes with keyword-only fields. Change one by copying
(``attrs.evolve(request, size=None)``). Secrets are kept out of ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Operation",
    "ImageInput",
    "ImageRequest",
    "Deployment",
    "Auth",
    "ImageObject",
    "ImageResponse",
    "Usage",
    "InputTokensDetails",
    "OutputTokensDetails",
    "FollowUp",
    "Refusal",
    "ServerSentEvent",
    "ImageStreamEvent",
    "image_extension",
]

_FrozenMap = Mapping[str, Any]

#: The values OpenAI's ImagesResponse schema allows for its echo fields; others stay out of the JSON.
_ECHO_ENUMS: Mapping[str, frozenset[str]] = {
    "background": frozenset({"transparent", "opaque"}),
    "output_format": frozenset({"png", "webp", "jpeg"}),
    "size": frozenset({"1024x1024", "1024x1536", "1536x1024"}),
    "quality": frozenset({"low", "medium", "high"}),
}


#: What a request asks for: a new image, an edit of given images, or variations of one image.
Operation = Literal["generate", "edit", "variation"]


@attrs.frozen(kw_only=True, eq=False)
class ImageInput:
    """
    An input image (for edits and variations): its bytes and media type.

    The core reads it from a path, bytes, a file object, a data URL or an http(s) URL, bounded
    in size, before any plugin sees the request; plugins only ever see this value.

    An image may also be made of ``pieces`` (``bytes`` or ``memoryview`` objects, in order),
    as the gateway receives an upload: the image is then the pieces one after another, and
    ``data`` joins them on first use (once). Code that can use the pieces as they are
    (:meth:`chunks`, :attr:`size`, :meth:`head`) never joins them: the gateway sends an
    OpenAI-shaped upload on without a copy of the image.

    Attributes:
        data: the image's bytes (never shown in ``repr``).
        media_type: ``"image/png"``, ``"image/jpeg"``, ``"image/webp"`` ...
        filename: the name it came with, if any (multipart uploads keep it).
    """

    _data: bytes | None = attrs.field(default=None, alias="data", repr=False)
    media_type: str
    filename: str | None = None
    _pieces: tuple[bytes | memoryview, ...] = attrs.field(default=(), alias="pieces", repr=False)
    _size: int = attrs.field(init=False, default=0, repr=False)

    def __attrs_post_init__(self) -> None:
        if self._data is None:
            if not self._pieces:
                raise TypeError("ImageInput needs data (bytes) or pieces")
            object.__setattr__(self, "_size", sum(len(piece) for piece in self._pieces))
        elif self._pieces:
            raise TypeError("ImageInput takes data or pieces, not both")
        else:
            object.__setattr__(self, "_size", len(self._data))

    @property
    def data(self) -> bytes:
        """The image's bytes; an image made of pieces joins them here, on the first use only."""
        data = self._data
        if data is None:
            data = b"".join(self._pieces)
            object.__setattr__(self, "_data", data)
            object.__setattr__(self, "_pieces", ())
        return data

    @property
    def size(self) -> int:
        """The image's length in bytes, without joining its pieces."""
        return self._size

    def chunks(self) -> tuple[bytes | memoryview, ...]:
        """The image as it is held: its pieces, or ``(data,)``; neither is copied."""
        return self._pieces or (self.data,)

    def head(self, size: int) -> bytes:
        """At least the first ``size`` bytes (all of them for a shorter image); the whole ``data`` once joined."""
        if self._data is not None:
            return self._data
        taken: list[bytes | memoryview] = []
        length = 0
        for piece in self._pieces:
            taken.append(piece)
            length += len(piece)
            if length >= size:
                break
        return b"".join(taken)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageInput):
            return NotImplemented
        return (self.media_type, self.filename) == (other.media_type, other.filename) and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.data, self.media_type, self.filename))

    def __repr__(self) -> str:
        return f"ImageInput(data=<{self.size} bytes>, media_type={self.media_type!r}, filename={self.filename!r})"


@attrs.frozen(kw_only=True)
class ImageRequest:
    """
    The normalized request every plugin sees: OpenAI's parameters plus provider-specific ones.

    Attributes:
        prompt: the text prompt (empty for a variation).
        model: the model name with the provider prefix removed (``"gpt-image-1"``).
        n: how many images, or ``None`` for the provider's default.
        quality, response_format, size, style, user: OpenAI's parameters, ``None`` when unset.
        params: every other keyword argument the caller gave, to send in the provider's body.
        operation: ``"generate"``, ``"edit"`` or ``"variation"``.
        images: the input images of an edit or a variation, in the order given.
        mask: the edit's mask, if one was given.
    """

    prompt: str = ""
    model: str
    n: int | None = None
    quality: str | None = None
    response_format: str | None = None
    size: str | None = None
    style: str | None = None
    user: str | None = None
    params: _FrozenMap = attrs.field(factory=dict, hash=False)
    operation: Operation = "generate"
    images: tuple[ImageInput, ...] = ()
    mask: ImageInput | None = None

    #: The OpenAI-style parameters that are fields of this class (``prompt`` and ``model`` aside).
    OPENAI_PARAMS = ("n", "quality", "response_format", "size", "style", "user")

    def get(self, name: str) -> Any:
        """A parameter by name, whether a field or in ``params``; ``None`` when unset."""
        if name in self.OPENAI_PARAMS:
            return getattr(self, name)
        return self.params.get(name)

    def without(self, name: str) -> ImageRequest:
        """A copy with one parameter unset (used by ``drop_params``)."""
        if name in self.OPENAI_PARAMS:
            cleared: Any = {name: None}
            return attrs.evolve(self, **cleared)
        return attrs.evolve(self, params={k: v for k, v in self.params.items() if k != name})

    def set_params(self) -> dict[str, Any]:
        """Every parameter the caller set, OpenAI-style ones first, as a plain dict."""
        found = {name: getattr(self, name) for name in self.OPENAI_PARAMS if getattr(self, name) is not None}
        found.update(self.params)
        return found


@attrs.frozen(kw_only=True)
class Deployment:
    """
    Where and as whom a request is sent: one provider, one model, its endpoint and credentials.

    Attributes:
        provider: entry-point name of the provider plugin.
        model: the provider's model name (for Azure, the deployment name).
        api_base: endpoint override; ``None`` for the provider's default.
        api_key: the key or token; never shown in ``repr``.
        api_version: API version where the provider has one (Azure).
        organization: OpenAI organization id.
        timeout: seconds for the whole call.
        settings: provider-specific settings (region, project, credentials); never sent as
            request parameters and never shown in ``repr``.
    """

    provider: str
    model: str
    api_base: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    api_version: str | None = None
    organization: str | None = None
    timeout: float | None = None
    settings: _FrozenMap = attrs.field(factory=dict, hash=False, repr=False)

    def setting(self, name: str, default: Any = None) -> Any:
        """A provider setting by name, or ``default``."""
        return self.settings.get(name, default)


@attrs.frozen(kw_only=True)
class Auth:
    """
    Credentials a plugin resolved through ``resolve_auth`` (a token, signing credentials).

    The core caches it per deployment until ``expires_at`` (Unix seconds) less a margin.
    ``value`` is whatever the plugin's ``build_request`` needs; it is never shown in ``repr``.

    ``secrets`` lists every secret string inside ``value`` (an access token, a secret key, a
    session token) so that the core scrubs them from errors and logs; a string ``value`` is
    scrubbed without being listed. Plugins whose ``value`` is an object must fill it.

    .. versionadded:: 1.1 ``secrets``
    """

    value: Any = attrs.field(repr=False)
    expires_at: float | None = None
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"<?xml", "svg"),
    (b"<svg", "svg"),
)


#: File suffixes by the format ``image_extension`` names for their bytes.
_SAME_FORMAT = {"jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "svg": "svg"}
_SAME_FORMAT["avif"] = "avif"


def image_extension(data: bytes) -> str:
    """The file extension (without dot) for image bytes, judged by their first bytes; ``"bin"`` if unknown."""
    head = data[:64].lstrip()
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    if b"<svg" in data[:1024]:
        return "svg"
    return "bin"


@attrs.frozen(kw_only=True)
class ImageObject:
    """
    One generated image: base64 data, a URL, or both; and the prompt the provider actually used.
    """

    b64_json: str | None = attrs.field(default=None, repr=lambda v: f"<{len(v)} base64 chars>" if v else "None")
    url: str | None = None
    revised_prompt: str | None = None
    #: Unix seconds after which ``url`` stops working, where the provider says (beside the JSON, never in it).
    expires_at: float | None = attrs.field(default=None, eq=False)

    def bytes(self, *, timeout: float = 60.0) -> bytes:
        """
        The image's bytes: decoded from ``b64_json`` or a ``data:`` URL, or downloaded from ``url``.

        Raises:
            APIResponseValidationError: the base64 is invalid.
            APIConnectionError: the URL could not be downloaded.
        """
        from pixmux.exceptions import APIConnectionError, APIResponseValidationError

        if self.b64_json is not None:
            try:
                return base64.b64decode(self.b64_json, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise APIResponseValidationError(f"b64_json is not valid base64: {exc}") from exc
        if self.url is None:
            raise APIResponseValidationError("this image has neither b64_json nor url")
        if self.url.startswith("data:"):
            _, _, payload = self.url.partition(",")
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise APIResponseValidationError(f"data URL is not valid base64: {exc}") from exc
        import httpx

        from pixmux._transport import fetch

        try:
            return fetch(self.url, timeout=timeout)
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"could not download the image from its url: {type(exc).__name__}") from exc

    def extension(self) -> str:
        """The file extension matching the image's bytes (``"png"``, ``"jpeg"``, ``"webp"``, ``"svg"``)."""
        return image_extension(self.bytes())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """
        Write the image to ``path`` and return the path written.

        The file follows the bytes: if ``path`` is an existing directory, the file is ``image.<ext>``
        in it; a path without a suffix gets the one matching the bytes; and a suffix that names
        another format is replaced (``save("otter.png")`` with JPEG bytes writes ``otter.jpeg``).
        Use the returned path. Bytes of a format pixmux does not recognise keep the path as given.
        """
        data = self.bytes()
        target = Path(path)
        found = image_extension(data)
        if target.is_dir():
            target = target / f"image.{found}"
        elif not target.suffix or (found != "bin" and _SAME_FORMAT.get(target.suffix.lower()[1:]) != found):
            target = target.with_suffix(f".{found}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target


@attrs.frozen(kw_only=True)
class InputTokensDetails:
    """Input tokens split into text and image tokens."""

    text_tokens: int = 0
    image_tokens: int = 0


@attrs.frozen(kw_only=True)
class OutputTokensDetails:
    """Output tokens split into image and text tokens."""

    image_tokens: int = 0
    text_tokens: int = 0


@attrs.frozen(kw_only=True)
class Usage:
    """Token usage, where the provider reports it (GPT image models, Gemini)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails = attrs.field(factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails | None = None

    def __add__(self, other: Usage) -> Usage:
        out = None
        if self.output_tokens_details or other.output_tokens_details:
            a = self.output_tokens_details or OutputTokensDetails()
            b = other.output_tokens_details or OutputTokensDetails()
            out = OutputTokensDetails(
                image_tokens=a.image_tokens + b.image_tokens, text_tokens=a.text_tokens + b.text_tokens
            )
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            input_tokens_details=InputTokensDetails(
                text_tokens=self.input_tokens_details.text_tokens + other.input_tokens_details.text_tokens,
                image_tokens=self.input_tokens_details.image_tokens + other.input_tokens_details.image_tokens,
            ),
            output_tokens_details=out,
        )


@attrs.frozen(kw_only=True)
class Refusal:
    """
    An image the provider withheld (a safety filter, a finish reason), while it may have delivered others.

    Attributes:
        reason: the provider's reason or finish code (``"CONTENT_FILTERED"``, ``"SAFETY"``...).
        message: the provider's words about it, where it gave any.
    """

    reason: str
    message: str | None = None


@attrs.frozen(kw_only=True)
class ImageResponse:
    """
    The result of a generation; its JSON form (``to_dict`` / ``to_json``) is exactly OpenAI's ``ImagesResponse``.

    Attributes:
        created: Unix seconds.
        data: the images.
        usage: token usage where the provider reports it.
        background, output_format, quality, size: GPT-image echo fields; in the JSON only
            when they hold a value OpenAI's schema allows.
        cost: the price of this call in US dollars where known (beside the JSON, never in it).
        metadata: provider facts beside the JSON: ``provider``, ``model``, ``deployment``,
            ``attempts``, ``warnings``, ``url_expires_at`` (per image, where the provider says
            when its URL stops working), text the model returned, and so on.
        refused: the images the provider withheld, one :class:`Refusal` each (beside the JSON).
            A call that delivers some images keeps them; a call whose every image was refused
            raises ``ContentPolicyViolationError`` instead.
    """

    created: int
    data: tuple[ImageObject, ...] = ()
    usage: Usage | None = None
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    cost: float | None = attrs.field(default=None, eq=False)
    metadata: _FrozenMap = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    refused: tuple[Refusal, ...] = attrs.field(default=(), eq=False)

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's ``ImagesResponse`` as a dict: no ``null`` fields, nothing pixmux-specific."""
        from pixmux.converters import output_converter

        out: dict[str, Any] = output_converter().unstructure(self)
        out.pop("cost", None)
        out.pop("metadata", None)
        out.pop("refused", None)
        for name, allowed in _ECHO_ENUMS.items():
            if name in out and out[name] not in allowed:
                del out[name]
        return out

    def to_json(self, **dumps: Any) -> str:
        """The OpenAI-shaped JSON text (``json.dumps`` keyword arguments pass through)."""
        return json.dumps(self.to_dict(), **dumps)

    def with_metadata(self, **facts: Any) -> ImageResponse:
        """A copy with more metadata (existing keys are replaced)."""
        return attrs.evolve(self, metadata={**self.metadata, **facts})

    def save_all(self, directory: str | os.PathLike[str], *, stem: str = "image") -> list[Path]:
        """Save every image in ``directory`` as ``<stem>-<i>.<ext>``; returns the paths."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(self.data):
            data = image.bytes()
            target = folder / f"{stem}-{index}.{image_extension(data)}"
            target.write_bytes(data)
            paths.append(target)
        return paths


@attrs.frozen(kw_only=True)
class FollowUp:
    """
    A further round trip a plugin asks the core to make (poll a job, download a URL).

    ``parse_response`` returns it instead of an ``ImageResponse``; the core waits at least
    ``after`` seconds (backing off on repeated polls, never past the call's deadline), sends
    ``request`` and calls ``parse_response`` again with the new response. Tell which step you
    are on from ``response.request.url``, not from hidden state.

    Once a plugin has returned a ``FollowUp``, the job counts as accepted: a retry re-sends the
    poll, never the submission. ``cancel``, when given, is the request that cancels the remote
    job; the core sends it (best effort) when the call times out or is cancelled while the job
    is pending.
    """

    request: httpx.Request
    after: float = 0.0
    cancel: httpx.Request | None = None


ResponseFormat = Literal["url", "b64_json"]


@attrs.frozen(init=False, eq=False, repr=False)
class ServerSentEvent:
    """
    One server-sent event as the core framed it from a provider's stream (``parse_event``'s input).

    Attributes:
        event: the ``event:`` field, ``"message"`` when the block had none.
        data: the ``data:`` lines joined with newlines (usually one JSON document), as text.
        id: the last ``id:`` seen, if any.
        retry: the last ``retry:`` (milliseconds), if any.

    The core keeps the data as the bytes that arrived and decodes ``data`` only when it is
    read: a plugin that reads JSON from bytes can take :meth:`data_bytes` instead.

    .. versionchanged:: 1.1
       ``data_bytes``; ``data`` is decoded on first use.
    """

    event: str
    id: str | None
    retry: int | None
    _buffer: bytes
    _start: int
    _end: int
    _frame_at: tuple[int, int] | None
    _text: str | None

    def __init__(
        self, *, event: str = "message", data: str = "", id: str | None = None, retry: int | None = None
    ) -> None:
        buffer = data.encode("utf-8", "surrogatepass")
        self.__attrs_init__(event, id, retry, buffer, 0, len(buffer), None, data)

    @classmethod
    def _read(
        cls,
        *,
        event: str,
        buffer: bytes,
        start: int,
        end: int,
        frame: tuple[int, int] | None = None,
        id: str | None = None,
        retry: int | None = None,
    ) -> ServerSentEvent:
        """
        An event whose data is ``buffer[start:end]``, kept without a copy (the core's decoder).

        ``frame`` is where, in ``buffer``, the whole event is re-framed: ``event: <event>``, one
        ``data:`` line with the data, a blank line.
        """
        created: ServerSentEvent = cls.__new__(cls)
        created.__attrs_init__(event, id, retry, buffer, start, end, frame, None)
        return created

    @property
    def data(self) -> str:
        """The data as text (decoded as UTF-8 on first use; undecodable bytes become U+FFFD)."""
        text = self._text
        if text is None:
            text = str(memoryview(self._buffer)[self._start : self._end], "utf-8", "replace")
            object.__setattr__(self, "_text", text)
        return text

    def data_bytes(self) -> memoryview:
        """The data as the bytes that came (a read-only view, no copy)."""
        return memoryview(self._buffer)[self._start : self._end]

    def _span(self) -> tuple[bytes, int, int]:
        """``(buffer, start, end)``: the data is ``buffer[start:end]`` (for readers that search bytes in place)."""
        return self._buffer, self._start, self._end

    def _frame(self) -> tuple[bytes | memoryview, int, int] | None:
        """
        The event re-framed (``event:``, one ``data:`` line, a blank line) and where its data is
        in it, ``(frame, start, end)``, when the core framed it; else ``None``.
        """
        if self._frame_at is None:
            return None
        first, last = self._frame_at
        buffer = self._buffer
        frame = buffer if first == 0 and last == len(buffer) else memoryview(buffer)[first:last]
        return frame, self._start - first, self._end - first

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.event, self.id, self.retry) == (other.event, other.id, other.retry) and (
            self.data_bytes() == other.data_bytes()
        )

    def __hash__(self) -> int:
        return hash((self.event, self.id, self.retry, bytes(self.data_bytes())))

    def __repr__(self) -> str:
        return (
            f"ServerSentEvent(event={self.event!r}, data=<{self._end - self._start} bytes>, "
            f"id={self.id!r}, retry={self.retry!r})"
        )


#: The stream event types, by operation: (partial, completed).
STREAM_EVENT_TYPES: Mapping[str, tuple[str, str]] = {
    "generate": ("image_generation.partial_image", "image_generation.completed"),
    "edit": ("image_edit.partial_image", "image_edit.completed"),
}

#: Values OpenAI's stream event schemas require, and what to say when the provider did not tell.
_EVENT_DEFAULTS = {"size": "auto", "quality": "auto", "background": "auto"}
_EVENT_ENUMS = {
    "size": frozenset({"1024x1024", "1024x1536", "1536x1024", "auto"}),
    "quality": frozenset({"low", "medium", "high", "auto"}),
    "background": frozenset({"transparent", "opaque", "auto"}),
    "output_format": frozenset({"png", "webp", "jpeg"}),
}


@attrs.frozen(kw_only=True)
class ImageStreamEvent:
    """
    One event of a streamed generation or edit; its JSON form (``to_dict``) is exactly OpenAI's.

    A stream yields zero or more partial images (``image_generation.partial_image`` or
    ``image_edit.partial_image``), then one completed event per final image.

    Attributes:
        type: the OpenAI event type.
        b64_json: the (partial or final) image, base64.
        created_at: Unix seconds.
        partial_image_index: 0-based, on partial images only.
        size, quality, background, output_format: what the image is, where known.
        usage: token usage, on completed events where the provider reports it.
        cost: on completed events, the price of the call in US dollars where known (beside the
            JSON, never in it); with ``n > 1``, on the last completed event.
        metadata: provider facts beside the JSON (``provider``, ``model``, ``deployment`` ...).
    """

    type: str
    b64_json: str = attrs.field(repr=lambda v: f"<{len(v)} base64 chars>")
    created_at: int
    partial_image_index: int | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    usage: Usage | None = None
    cost: float | None = attrs.field(default=None, eq=False)
    metadata: _FrozenMap = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    #: Where ``b64_json`` is, as ``(buffer, start, end)``, while it has not been read: the text is
    #: made from those ASCII bytes on first use (a gateway that relays the event never makes it).
    _b64_source: tuple[bytes, int, int] | None = attrs.field(default=None, init=False, eq=False, repr=False)
    #: The provider's own event, already exactly OpenAI's, as ``(frame, start, end)``: the frame is
    #: ``event: <type>``, ``data: <the JSON, frame[start:end]>`` and a blank line (see ``to_sse``).
    _relay: tuple[bytes | memoryview, int, int] | None = attrs.field(default=None, init=False, eq=False, repr=False)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Only an image not read yet gets here: its slot is empty until the first use.
            if name != "b64_json":
                raise AttributeError(name)
            try:
                source = object.__getattribute__(self, "_b64_source")
            except AttributeError:
                source = None
            if source is None:
                raise AttributeError(name)
            text = _b64_text(*source)
            object.__setattr__(self, "b64_json", text)
            return text

    @classmethod
    def _read(
        cls,
        *,
        b64_source: tuple[bytes, int, int],
        relay: tuple[bytes | memoryview, int, int] | None = None,
        **fields: Any,
    ) -> ImageStreamEvent:
        """
        An event whose ``b64_json`` is ``buffer[start:end]`` of ``b64_source``, made into text on first use.

        Those bytes are the content of a JSON string, as the provider sent it. ``relay`` is the provider's event as
        ``(frame, start, end)`` when its JSON (``frame[start:end]``) is already exactly what
        ``to_dict`` gives: ``to_sse`` and ``to_json`` hand it on unchanged. For readers of
        providers' streams (the core's :func:`pixmux.streaming.read_openai_event`).
        """
        buffer, start, end = b64_source
        if not 0 <= start <= end <= len(buffer):
            raise ValueError("b64_source is not a range of its buffer")
        created = cls(b64_json="", **fields)
        object.__delattr__(created, "b64_json")
        object.__setattr__(created, "_b64_source", b64_source)
        if relay is not None:
            object.__setattr__(created, "_relay", relay)
        return created

    def _relayed(self, relay: tuple[bytes | memoryview, int, int]) -> ImageStreamEvent:
        """This event, marked as the provider's own ``(frame, start, end)`` (see :meth:`_read`)."""
        return self._with_extras(_relay=relay)

    def _with_extras(self, **changes: Any) -> ImageStreamEvent:
        """
        A copy with other ``cost`` / ``metadata`` (what is beside the JSON), keeping an image not read yet unread.

        ``attrs.evolve`` works too, but reads the image and forgets the provider's frame.
        """
        allowed = {"cost", "metadata", "_relay"}
        if not changes.keys() <= allowed:
            raise TypeError(f"_with_extras changes only {sorted(allowed)}, not {sorted(changes.keys() - allowed)}")
        copy = object.__new__(type(self))
        for field in _STREAM_EVENT_FIELDS:
            if field in changes:
                object.__setattr__(copy, field, changes[field])
                continue
            try:
                value = object.__getattribute__(self, field)
            except AttributeError:  # b64_json, not read yet
                continue
            object.__setattr__(copy, field, value)
        return copy

    @property
    def completed(self) -> bool:
        """Whether this is a final image (``*.completed``), not a preview."""
        return self.type.endswith(".completed")

    def image(self) -> ImageObject:
        """The event's image as an :class:`ImageObject` (``save()``, ``bytes()``)."""
        return ImageObject(b64_json=self.b64_json)

    def to_dict(self) -> dict[str, Any]:
        """
        OpenAI's event JSON: the fields its schema requires are always present.

        Where the provider did not say, ``size``, ``quality`` and ``background`` are ``"auto"``,
        ``output_format`` follows the image's bytes, and a completed event's ``usage`` is zero.
        """
        out: dict[str, Any] = {"type": self.type, "b64_json": self.b64_json, "created_at": self.created_at}
        for name, default in _EVENT_DEFAULTS.items():
            value = getattr(self, name)
            out[name] = value if value in _EVENT_ENUMS[name] else default
        fmt = self.output_format
        if fmt not in _EVENT_ENUMS["output_format"]:
            fmt = _format_of(self.b64_json)
        out["output_format"] = fmt
        if not self.completed:
            out["partial_image_index"] = self.partial_image_index or 0
        else:
            from pixmux.converters import output_converter

            out["usage"] = output_converter().unstructure(self.usage or Usage())
        return out

    def to_json(self, **dumps: Any) -> str:
        """The OpenAI-shaped JSON text of the event (the provider's own text when it already was)."""
        if self._relay is not None:
            frame, start, end = self._relay
            return str(memoryview(frame)[start:end], "utf-8", "replace")
        return json.dumps(self.to_dict(), **dumps)

    def to_sse(self) -> bytes | memoryview:
        """
        The event as one server-sent event: ``event: <type>``, ``data: <to_json()>``, a blank line.

        When the provider's event already was exactly this, its bytes are returned as they came
        (no copy, the image never decoded; a read-only view when they are part of a bigger chunk
        that arrived): a gateway relays a 1.5 MB partial image unchanged.

        .. versionadded:: 1.1
        """
        if self._relay is not None:
            return self._relay[0]
        from pixmux._sse import encode_event

        return encode_event(self.type, self.to_json(separators=(",", ":")))


_STREAM_EVENT_FIELDS = tuple(field.name for field in attrs.fields(ImageStreamEvent))


def _b64_text(buffer: bytes, start: int, end: int) -> str:
    """
    The text of the JSON string whose content is ``buffer[start:end]`` (an image kept as it came).

    Base64 is plain ASCII, made into text with one copy; anything else (an escaped ``\\/``,
    a byte beyond ASCII) is read as JSON reads it.

    Raises:
        APIResponseValidationError: those bytes are not the content of a JSON string.
    """
    view = memoryview(buffer)[start:end]
    try:
        text = str(view, "ascii")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\\" not in text:
        return text
    try:
        found = json.loads(b'"' + bytes(view) + b'"')
    except ValueError as exc:
        from pixmux.exceptions import APIResponseValidationError

        raise APIResponseValidationError(f"the stream event's b64_json is not a JSON string: {exc}") from None
    if not isinstance(found, str):  # pragma: no cover - a quoted JSON value is a string or an error
        raise TypeError("b64_json is not a string")
    return found


def _format_of(b64: str) -> str:
    try:
        head = base64.b64decode(b64[:64], validate=False)
    except (binascii.Error, ValueError):
        return "png"
    ext = image_extension(head)
    return "jpeg" if ext == "jpeg" else "webp" if ext == "webp" else "png"


# --------------------------------------------------------------------------------------------- built by the core
#
# The core builds an ImageRequest, one or more ImageObjects and two ImageResponses on every call,
# from values it has already checked or made itself. attrs' __init__ sets each field of a
# frozen class through ``object.__setattr__`` (about 1,300 instructions a field, keyword
# matching and defaults on top); these constructors set the slots through their descriptors
# (about 800) and take every field by position. The values are the same either way: they
# make exactly what the class's own constructor makes from the same field values
# (``core/tests/test_types_assembled.py`` compares every field of both), and the instance is
# as frozen as any other.


def _slot_setters(cls: type[Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """Each field's slot setter, checked against the class's fields at import (a field added means these change)."""
    fields = tuple(field.name for field in attrs.fields(cls))
    if fields != names:  # pragma: no cover - fails at import, in every test run, the day a field changes
        raise AssertionError(f"{cls.__name__} has the fields {fields}, its assembler sets {names}")
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__

(
    _set_created,
    _set_data,
    _set_usage,
    _set_background,
    _set_output_format,
    _set_quality,
    _set_size,
    _set_cost,
    _set_metadata,
    _set_refused,
) = _slot_setters(
    ImageResponse,
    ("created", "data", "usage", "background", "output_format", "quality", "size", "cost", "metadata", "refused"),
)


def _image_response(  # noqa: PLR0917 - every field by position is the point
    created: int,
    data: tuple[ImageObject, ...],
    usage: Usage | None,
    background: str | None,
    output_format: str | None,
    quality: str | None,
    size: str | None,
    cost: float | None,
    metadata: _FrozenMap,
    refused: tuple[Refusal, ...],
) -> ImageResponse:
    """``ImageResponse(created=created, data=data, ...)`` for values the core made: every field, in order."""
    response: ImageResponse = _new(ImageResponse)
    _set_created(response, created)
    _set_data(response, data)
    _set_usage(response, usage)
    _set_background(response, background)
    _set_output_format(response, output_format)
    _set_quality(response, quality)
    _set_size(response, size)
    _set_cost(response, cost)
    _set_metadata(response, metadata)
    _set_refused(response, refused)
    return response


def _finished(response: ImageResponse, cost: float | None, metadata: _FrozenMap) -> ImageResponse:
    """``attrs.evolve(response, cost=cost, metadata=metadata)``: the JSON fields shared, the two beside it new."""
    return _image_response(
        response.created,
        response.data,
        response.usage,
        response.background,
        response.output_format,
        response.quality,
        response.size,
        cost,
        metadata,
        response.refused,
    )


_set_b64_json, _set_url, _set_revised_prompt, _set_expires_at = _slot_setters(
    ImageObject, ("b64_json", "url", "revised_prompt", "expires_at")
)


def _image_object(
    b64_json: str | None, url: str | None, revised_prompt: str | None, expires_at: float | None
) -> ImageObject:
    """``ImageObject(b64_json=b64_json, url=url, ...)`` for values the core read and checked."""
    image: ImageObject = _new(ImageObject)
    _set_b64_json(image, b64_json)
    _set_url(image, url)
    _set_revised_prompt(image, revised_prompt)
    _set_expires_at(image, expires_at)
    return image


(
    _set_prompt,
    _set_model,
    _set_n,
    _set_request_quality,
    _set_response_format,
    _set_request_size,
    _set_style,
    _set_user,
    _set_params,
    _set_operation,
    _set_images,
    _set_mask,
) = _slot_setters(
    ImageRequest,
    (
        "prompt",
        "model",
        "n",
        "quality",
        "response_format",
        "size",
        "style",
        "user",
        "params",
        "operation",
        "images",
        "mask",
    ),
)


def _image_request(  # noqa: PLR0917 - every field by position is the point
    prompt: str,
    model: str,
    n: int | None,
    quality: str | None,
    response_format: str | None,
    size: str | None,
    style: str | None,
    user: str | None,
    params: _FrozenMap,
    operation: Operation,
    images: tuple[ImageInput, ...],
    mask: ImageInput | None,
) -> ImageRequest:
    """``ImageRequest(prompt=prompt, model=model, ...)``: every field, in order (the engine's, before validation)."""
    request: ImageRequest = _new(ImageRequest)
    _set_prompt(request, prompt)
    _set_model(request, model)
    _set_n(request, n)
    _set_request_quality(request, quality)
    _set_response_format(request, response_format)
    _set_request_size(request, size)
    _set_style(request, style)
    _set_user(request, user)
    _set_params(request, params)
    _set_operation(request, operation)
    _set_images(request, images)
    _set_mask(request, mask)
    return request
