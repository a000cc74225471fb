"""Values: ImageResponse is exactly OpenAI's ImagesResponse; ImageObject's bytes and save; requests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest
import referencing
import yaml
from pixmux import APIConnectionError, APIResponseValidationError, ImageObject, ImageRequest, ImageResponse, Usage
from pixmux.testing import TINY_PNG_B64, local_server, reply
from pixmux.types import InputTokensDetails, OutputTokensDetails, image_extension
from referencing.jsonschema import DRAFT202012

#: OpenAI's published schema for the Images API (copied from the project's shared reference).
OPENAPI = Path(__file__).parent / "reference" / "openai-images-openapi.yaml"
PNG = base64.b64decode(TINY_PNG_B64)


@pytest.fixture(scope="module")
def images_response_validator() -> jsonschema.protocols.Validator:
    """A validator for ``#/components/schemas/ImagesResponse`` with every ``$ref`` resolved."""
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource("urn:openai-images", resource)
    schema = {"$ref": "urn:openai-images#/components/schemas/ImagesResponse"}
    validator_cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return validator_cls(schema, registry=registry, format_checker=jsonschema.FormatChecker())


FULL = ImageResponse(
    created=1_713_833_628,
    data=(ImageObject(b64_json=TINY_PNG_B64),),
    usage=Usage(
        input_tokens=50,
        output_tokens=50,
        total_tokens=100,
        input_tokens_details=InputTokensDetails(text_tokens=10, image_tokens=40),
        output_tokens_details=OutputTokensDetails(image_tokens=50, text_tokens=0),
    ),
    background="opaque",
    output_format="png",
    quality="high",
    size="1024x1024",
    cost=0.167,
    metadata={"provider": "openai", "model": "gpt-image-1"},
)


@pytest.mark.parametrize(
    "response",
    [
        FULL,
        ImageResponse(created=1, data=(ImageObject(url="https://img.invalid/a.png", revised_prompt="an otter"),)),
        ImageResponse(created=1),
        ImageResponse(created=1, data=(ImageObject(b64_json=TINY_PNG_B64),), usage=Usage()),
        # Values outside OpenAI's enums (a custom gpt-image-2 size, "auto") are left out, not sent invalid.
        ImageResponse(
            created=1, data=(ImageObject(b64_json="x"),), size="2048x1152", quality="auto", background="auto"
        ),
    ],
)
def test_to_dict_validates_against_openai_images_response(
    images_response_validator: jsonschema.protocols.Validator, response: ImageResponse
) -> None:
    """``to_dict()`` and ``to_json()`` validate against OpenAI's ImagesResponse schema."""
    images_response_validator.validate(response.to_dict())
    images_response_validator.validate(json.loads(response.to_json()))


def test_to_dict_rejects_what_the_schema_rejects(images_response_validator: jsonschema.protocols.Validator) -> None:
    """The validator is real: a body missing ``created`` or with a bad size fails it."""
    with pytest.raises(jsonschema.ValidationError):
        images_response_validator.validate({"data": []})
    with pytest.raises(jsonschema.ValidationError):
        images_response_validator.validate({"created": 1, "size": "2048x1152"})
    with pytest.raises(jsonschema.ValidationError):
        images_response_validator.validate({"created": 1, "usage": {"input_tokens": 1}})


def test_to_dict_is_exactly_the_openai_shape() -> None:
    """Nothing pixmux-specific, no ``null``: cost and metadata stay beside the JSON."""
    out = FULL.to_dict()

    assert out == {
        "created": 1_713_833_628,
        "data": [{"b64_json": TINY_PNG_B64}],
        "background": "opaque",
        "output_format": "png",
        "quality": "high",
        "size": "1024x1024",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 50,
            "total_tokens": 100,
            "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            "output_tokens_details": {"image_tokens": 50, "text_tokens": 0},
        },
    }
    assert "null" not in FULL.to_json()


def test_to_dict_keeps_zero_token_counts() -> None:
    """Zero counters are kept: OpenAI's schema requires them."""
    out = ImageResponse(created=1, usage=Usage()).to_dict()

    assert out["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "input_tokens_details": {
            "text_tokens": 0,
            "image_tokens": 0,
        },
    }


def test_to_json_passes_dumps_arguments() -> None:
    """``to_json(indent=2)`` is indented JSON of the same dict."""
    text = FULL.to_json(indent=2)

    assert "\n  " in text
    assert FULL.to_dict() == json.loads(text)


def test_response_equality_ignores_cost_and_metadata() -> None:
    """Two responses with the same OpenAI content are equal whatever their side data."""
    assert attrs.evolve(FULL, cost=None, metadata={}) == FULL


def test_usage_adds_up() -> None:
    """Usage from several requests sums field by field."""
    one = Usage(input_tokens=1, output_tokens=2, total_tokens=3, input_tokens_details=InputTokensDetails(text_tokens=1))
    two = Usage(
        input_tokens=4,
        output_tokens=5,
        total_tokens=9,
        output_tokens_details=OutputTokensDetails(image_tokens=5),
    )

    total = one + two

    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (5, 7, 12)
    assert total.input_tokens_details.text_tokens == 1
    assert total.output_tokens_details == OutputTokensDetails(image_tokens=5)


# --------------------------------------------------------------------------- ImageObject


def test_image_bytes_decodes_b64_json() -> None:
    """``bytes()`` of a base64 image is the image."""
    assert ImageObject(b64_json=TINY_PNG_B64).bytes() == PNG


def test_image_bytes_decodes_a_data_url() -> None:
    """``bytes()`` of a ``data:`` URL decodes it without any network."""
    assert ImageObject(url=f"data:image/png;base64,{TINY_PNG_B64}").bytes() == PNG


@pytest.mark.parametrize(
    "image", [ImageObject(b64_json="not*base64"), ImageObject(url="data:image/png;base64,@@@"), ImageObject()]
)
def test_image_bytes_bad_data_is_a_typed_error(image: ImageObject) -> None:
    """Invalid base64, or an image with no data, raises APIResponseValidationError."""
    with pytest.raises(APIResponseValidationError):
        image.bytes()


class _PngHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/img.png":
            self.send_error(404)
            return
        reply(self, 200, PNG, content_type="image/png")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    """A server on 127.0.0.1 serving one PNG at ``/img.png``."""
    with local_server(_PngHandler) as url:
        yield url


def test_image_bytes_downloads_a_url(image_server: str) -> None:
    """``bytes()`` of an http URL downloads it."""
    assert ImageObject(url=f"{image_server}/img.png").bytes() == PNG


def test_image_bytes_failed_download_is_a_typed_error(image_server: str) -> None:
    """A URL that answers 404 raises APIConnectionError."""
    with pytest.raises(APIConnectionError):
        ImageObject(url=f"{image_server}/gone.png").bytes()


def test_image_save_writes_the_bytes(tmp_path: Path) -> None:
    """``save(path)`` writes the image and returns the path."""
    written = ImageObject(b64_json=TINY_PNG_B64).save(tmp_path / "otter.png")

    assert tmp_path / "otter.png" == written
    assert written.read_bytes() == PNG


def test_image_save_adds_the_right_extension(tmp_path: Path) -> None:
    """A path without a suffix, or a directory, gets the extension matching the bytes."""
    no_suffix = ImageObject(b64_json=TINY_PNG_B64).save(tmp_path / "sub" / "otter")
    into_dir = ImageObject(b64_json=TINY_PNG_B64).save(tmp_path)

    assert tmp_path / "sub" / "otter.png" == no_suffix
    assert tmp_path / "image.png" == into_dir
    assert into_dir.read_bytes() == PNG


def test_image_save_follows_the_bytes_not_a_wrong_suffix(tmp_path: Path) -> None:
    """JPEG bytes saved as ``otter.png`` are written as ``otter.jpeg``, and the returned path says so."""
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)
    image = ImageObject(b64_json=base64.b64encode(jpeg).decode())

    written = image.save(tmp_path / "otter.png")
    kept = image.save(tmp_path / "otter.JPG")

    assert tmp_path / "otter.jpeg" == written
    assert written.read_bytes() == jpeg
    assert not (tmp_path / "otter.png").exists()
    assert tmp_path / "otter.JPG" == kept  # a suffix naming the same format is kept


def test_image_save_downloads_urls(tmp_path: Path, image_server: str) -> None:
    """Saving a URL image downloads it first."""
    written = ImageObject(url=f"{image_server}/img.png").save(tmp_path / "x.png")

    assert written.read_bytes() == PNG


def test_response_save_all_numbers_the_files(tmp_path: Path) -> None:
    """``save_all`` writes every image as ``image-<i>.<ext>``."""
    resp = ImageResponse(created=1, data=(ImageObject(b64_json=TINY_PNG_B64), ImageObject(b64_json=TINY_PNG_B64)))

    paths = resp.save_all(tmp_path / "out")

    assert [tmp_path / "out" / "image-0.png", tmp_path / "out" / "image-1.png"] == paths


@pytest.mark.parametrize(
    ("data", "ext"),
    [
        (PNG, "png"),
        (b"\xff\xd8\xff\xe0rest", "jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"GIF89a...", "gif"),
        (b'<?xml version="1.0"?><svg></svg>', "svg"),
        (b"\x00\x00\x00\x1cftypavif", "avif"),
        (b"what is this", "bin"),
    ],
)
def test_image_extension_from_magic_bytes(data: bytes, ext: str) -> None:
    """The extension is judged by the bytes, not by what the provider claimed."""
    assert ext == image_extension(data)


def test_image_repr_does_not_dump_base64() -> None:
    """A 1.5 MB base64 image prints as its length, not its content."""
    image = ImageObject(b64_json="A" * 2_000_000)

    assert len(repr(image)) < 200
    assert "2000000 base64 chars" in repr(image)


# --------------------------------------------------------------------------- ImageRequest


def test_request_get_and_without_cover_both_kinds_of_param() -> None:
    """``get`` and ``without`` work on OpenAI fields and on provider params alike."""
    request = ImageRequest(prompt="otter", model="m", size="512x512", params={"seed": 3, "cfg": 7})

    assert request.get("size") == "512x512"
    assert request.get("seed") == 3
    assert request.get("missing") is None
    assert request.without("size").size is None
    assert dict(request.without("seed").params) == {"cfg": 7}
    assert request.set_params() == {"size": "512x512", "seed": 3, "cfg": 7}


def test_request_is_frozen_and_keyword_only() -> None:
    """Values cannot change in place and must be named."""
    request = ImageRequest(prompt="otter", model="m")

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.size = "1x1"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ImageRequest("otter", "m")  # type: ignore[call-arg]
