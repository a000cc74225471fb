"""
cattrs converters, one per purpose.

- ``make_converter()``: lenient, for provider JSON (providers add fields; we ignore them).
- ``make_strict_converter()``: unknown keys are errors, for config files and deployment settings.
- ``output_converter()``: turns pixmux values into OpenAI-shaped JSON, leaving out ``None`` fields.
- ``make_camel_converter()``: lenient, for camelCase providers (field ``mime_type`` reads ``mimeType``).

``structure_response()`` reads a provider's JSON body into an attrs class with one of them,
turning every way that can fail into an ``APIResponseValidationError`` that says where;
``loads_json()`` is the JSON reading it does (the json module's results, faster for big bodies).
"""

from __future__ import annotations

import collections.abc
import functools
import json
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from pixmux.exceptions import APIResponseValidationError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "make_converter",
    "make_strict_converter",
    "make_camel_converter",
    "output_converter",
    "describe_error",
    "structure_response",
    "structure_json",
    "read_json",
    "loads_json",
]

T = TypeVar("T")

#: orjson reads integers beyond 64 bits as floats (the json module keeps them exact): a float
#: this big in orjson's result sends the body to the json module instead.
_EXACT_INT_LIMIT = float(2**63)


#: Bodies at least this big have their big strings cut out before orjson reads them (see ``_loads_cut``).
CUT_MIN_BYTES = 64 * 1024
#: Strings at least this long (in bytes) are cut out of a big body before orjson reads the rest.
BIG_STRING_BYTES = 16 * 1024
#: A body with more small strings than this is read whole (the walk would cost more than it saves).
_MAX_STRINGS_WALKED = 256
_QUOTE = 0x22
_BACKSLASH = 0x5C


@functools.cache
def _orjson() -> Any:
    """The orjson module when installed (``pixmux[fast]``, ``pixmux[proxy]``), else ``None``; imported on first use."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson


@functools.cache
def _orjson_loads() -> Callable[[bytes], Any] | None:
    module = _orjson()
    return None if module is None else cast("Callable[[bytes], Any]", module.loads)


@functools.cache
def orjson_dumps() -> Callable[[Any], bytes] | None:
    """
    ``orjson.dumps`` when orjson is installed, else ``None``.

    Its output is compact UTF-8 JSON; it differs from the json module's for floats (spelling,
    NaN written as null), integers beyond 64 bits and keys that are not strings (it refuses
    those), so callers use it only where those cannot occur or are checked for.
    """
    module = _orjson()
    return None if module is None else cast("Callable[[Any], bytes]", module.dumps)


@functools.cache
def _hole_prefix() -> str:
    # Random per process, so that no body can hold a string equal to a hole's stand-in on purpose.
    return f"pixmux-hole-{os.urandom(8).hex()}-"


def _has_big_float(value: Any) -> bool:
    # orjson's results hold exactly dict, list, str, int, float, bool and None: no subclasses.
    # Containers are walked; every other value is looked at once, where it stands.
    kind = type(value)
    if kind is float:
        return not -_EXACT_INT_LIMIT < value < _EXACT_INT_LIMIT
    if kind is not dict and kind is not list:
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is float and not -_EXACT_INT_LIMIT < child < _EXACT_INT_LIMIT:
                return True
    return False


def _string_end(content: bytes, start: int) -> int:
    """Where the string whose first byte is at ``start`` ends: its closing quote, or -1."""
    end = content.find(b'"', start)
    while end > start and content[end - 1] == _BACKSLASH:
        run = 1
        while end - run - 1 >= start and content[end - run - 1] == _BACKSLASH:
            run += 1
        if run % 2 == 0:  # the backslashes escape each other, not the quote
            break
        end = content.find(b'"', end + 1)
    return end


def _loads_cut(content: bytes, loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> Any:
    """
    ``content`` read by orjson with its big strings cut out, checked and put back; ``None`` if it does not apply.

    A big JSON string (a base64 image) costs orjson a full scan and a copy into a new ``str``.
    Here every string of the body is found by its quotes (as a JSON reader finds them: a quote
    ends a string unless an odd number of backslashes precede it). A big one is taken only when
    it is plain: printable ASCII, nothing JSON escapes (no backslash, quote or control
    character); that is stricter than JSON, and it is checked with ASCII decoding plus orjson
    writing the text back (any character JSON must escape would lengthen it), both memcpy-fast.
    The body's other bytes, each big string replaced by a stand-in, are read by orjson as usual,
    then each stand-in is replaced by its text. Replacing one well-formed string with another
    keeps the body valid or invalid alike, so anything not proven plain, every stand-in not
    found exactly once as a value, or a body orjson refuses, returns ``None`` (read whole).
    """
    pieces: list[bytes] = []
    texts: dict[str, str] = {}
    prefix = ""
    done = 0
    walked = 0
    view = memoryview(content)
    at = content.find(b'"')
    while at >= 0:
        end = _string_end(content, at + 1)
        if end < 0:
            return None
        if end - at - 1 >= BIG_STRING_BYTES:
            try:
                text = str(view[at + 1 : end], "ascii")
            except UnicodeDecodeError:
                return None
            if len(dumps(text)) != len(text) + 2:  # a backslash or a control character had to be escaped
                return None
            prefix = prefix or _hole_prefix()
            key = f"{prefix}{len(texts)}"
            texts[key] = text
            pieces.append(content[done:at])
            pieces.append(f'"{key}"'.encode("ascii"))
            done = end + 1
        else:
            walked += 1
            if walked > _MAX_STRINGS_WALKED:
                return None
        at = content.find(b'"', end + 1)
    if not texts:
        return None
    pieces.append(content[done:])
    try:
        value = loads(b"".join(pieces))
    except ValueError:
        return None
    if not _put_back(value, texts, prefix) or _has_big_float(value):
        return None
    return value


def _put_back(value: Any, texts: dict[str, str], prefix: str) -> bool:
    """Replace each stand-in in ``value`` by its text; whether each was found exactly once, as a value."""
    left = dict(texts)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # only the whole body can be a bare string here
            if item.startswith(prefix):
                return False
            continue
        is_object = isinstance(item, dict)
        entries: Iterable[tuple[Any, Any]] = item.items() if is_object else enumerate(item)
        for key, field in entries:
            if is_object and str(key).startswith(prefix):
                return False
            if isinstance(field, str):
                if field.startswith(prefix):
                    text = left.pop(field, None)
                    if text is None:
                        return False
                    item[key] = text
            elif isinstance(field, dict | list):
                stack.append(field)
    return not left


def loads_json(content: bytes) -> Any:
    """
    ``json.loads(content)``, the same value for every input, faster when orjson is installed.

    With orjson (``pixmux[fast]``), a 1.5 MB base64 image body reads in about half the time,
    and a small url body in a fifth.

    orjson is stricter than the json module (no ``NaN``, UTF-8 only, no lone surrogates) and
    reads integers beyond 64 bits as floats; whatever it refuses, and any result holding a
    float that could be such an integer, is read again by the json module, so the result
    (and the error, for a body that is not JSON) is always the json module's. Big plain strings
    (base64 images) skip orjson's string reading (see ``_loads_cut``): a 1.5 MB image body
    in about a third of the time.

    Raises:
        ValueError: ``content`` is not JSON (``json.JSONDecodeError`` or ``UnicodeDecodeError``).
    """
    fast = _orjson_loads()
    if fast is not None:
        if len(content) >= CUT_MIN_BYTES:
            dumps = orjson_dumps()
            value = _loads_cut(content, fast, dumps) if dumps is not None else None
            if value is not None:
                return value
        try:
            value = fast(content)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            pass
        else:
            if not _has_big_float(value):
                return value
    return json.loads(content)


def _is_list(target: Any) -> bool:
    origin = typing.get_origin(target)
    if origin in (list, collections.abc.Sequence):
        return True
    return origin is tuple and typing.get_args(target)[1:] == (Ellipsis,)


def _shapes_checked(converter: cattrs.Converter, rename: Callable[[str], str] | None = None) -> cattrs.Converter:
    # cattrs reads any value that supports `in` as an object and any iterable as a list, so a
    # string where a provider should have sent an object or an array would quietly become an
    # all-defaults value, or one per character. Provider JSON of the wrong shape must fail
    # instead, naming where.
    def object_factory(cls: type[Any]) -> Any:
        overrides: dict[str, Any] = {}
        if rename is not None:
            overrides = {a.name: override(rename=rename(a.name)) for a in attrs.fields(cls)}
        read = make_dict_structure_fn(cls, converter, **overrides)

        def structure(value: Any, kind: Any) -> Any:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a JSON object, got {type(value).__name__}")
            return read(value, kind)

        return structure

    def list_factory(target: Any) -> Any:
        if typing.get_origin(target) is tuple:
            read = homogenous_tuple_structure_factory(target, converter)
        else:
            read = list_structure_factory(target, converter)

        def structure(value: Any, kind: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a JSON array, got {type(value).__name__}")
            return read(value, kind)

        return structure

    converter.register_structure_hook_factory(attrs.has, object_factory)
    converter.register_structure_hook_factory(_is_list, list_factory)
    # cattrs makes a str of anything (str(["iVBOR..."]), str(False)) and a bool of anything
    # (bool("false") is True): a value of the wrong type would pass for image data or a flag.
    converter.register_structure_hook(str, _text)
    converter.register_structure_hook(bool, _flag)
    converter.register_structure_hook(int, _whole)
    return converter


def _text(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a JSON string, got {type(value).__name__}")
    return value


def _flag(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _whole(value: Any, _: Any) -> int:
    # A number, or a string of one ("1713833628"); never true/false, a list or an object.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a JSON number, got {type(value).__name__}")
    return int(value)


def make_converter() -> cattrs.Converter:
    """A lenient converter for provider responses: extra keys are ignored; types and shapes are checked."""
    return _shapes_checked(cattrs.Converter(forbid_extra_keys=False, detailed_validation=True))


def make_strict_converter() -> cattrs.Converter:
    """A strict converter for config and settings: unknown keys are errors naming the key."""
    return cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def make_camel_converter() -> cattrs.Converter:
    """A lenient converter whose attrs classes read and write camelCase keys (``bytes_base64_encoded``)."""
    converter = _shapes_checked(cattrs.Converter(forbid_extra_keys=False, detailed_validation=True), rename=_camel)

    def unstructure_factory(cls: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=_camel(a.name), omit_if_default=True) for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, converter, **overrides)

    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


@functools.cache
def output_converter() -> cattrs.Converter:
    """The converter that writes pixmux values as JSON-ready dicts with no ``None`` or default fields."""
    from pixmux.types import ImageObject, InputTokensDetails, OutputTokensDetails, Usage

    converter = cattrs.Converter(omit_if_default=True, unstruct_collection_overrides={tuple: list})
    # Usage's counters are required by OpenAI's schema even when zero: keep them.
    for cls in (InputTokensDetails, OutputTokensDetails):
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=False)
        )
    # When a URL expires is pixmux's fact, not OpenAI's: it stays out of the JSON.
    converter.register_unstructure_hook(
        ImageObject,
        make_dict_unstructure_fn(ImageObject, converter, _cattrs_omit_if_default=True, expires_at=override(omit=True)),
    )
    converter.register_unstructure_hook(
        Usage,
        make_dict_unstructure_fn(
            Usage, converter, _cattrs_omit_if_default=False, output_tokens_details=override(omit_if_default=True)
        ),
    )
    return converter


def describe_error(exc: BaseException) -> str:
    """One line naming each place a structure failed (``... @ $.data[0].url``)."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)


def structure_response(
    response: httpx.Response, cls: type[T], *, converter: cattrs.Converter, provider: str, model: str | None, what: str
) -> T:
    """
    A provider's JSON body as ``cls``, or an ``APIResponseValidationError`` naming what was wrong.

    Args:
        response: the provider's response.
        cls: the attrs class to read the body into (only the fields the plugin uses).
        converter: the plugin's converter (usually ``make_converter()`` or ``make_camel_converter()``).
        provider, model: for the error.
        what: what the body should have been, for the error (``"an ImagesResponse"``).

    Raises:
        APIResponseValidationError: the body is not JSON, or not of that shape; the message
            says where (``... @ $.data[0].url``).
    """
    body = read_json(response, provider=provider, model=model)
    return structure_json(body, cls, converter=converter, provider=provider, model=model, what=what, response=response)


def read_json(response: httpx.Response, *, provider: str, model: str | None) -> Any:
    """
    A provider's body read as JSON (:func:`loads_json`), or an ``APIResponseValidationError``.

    Raises:
        APIResponseValidationError: the body is not JSON; the message says why.
    """
    try:
        return loads_json(response.content)
    except ValueError as exc:
        raise APIResponseValidationError(
            f"the response is not JSON: {exc}", provider=provider, model=model, response=response
        ) from exc


def structure_json(
    body: Any,
    cls: type[T],
    *,
    converter: cattrs.Converter,
    provider: str,
    model: str | None,
    what: str,
    response: httpx.Response | None = None,
) -> T:
    """
    :func:`structure_response` for a body already read from JSON (``loads_json(response.content)``).

    Raises:
        APIResponseValidationError: the value is not of that shape; the message says where.
    """
    try:
        return converter.structure(body, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, AttributeError) as exc:
        raise APIResponseValidationError(
            f"the response is not {what}: {describe_error(exc)}", provider=provider, model=model, response=response
        ) from exc
