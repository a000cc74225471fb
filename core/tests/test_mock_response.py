"""``mock_response``: a well-formed response for users' own tests, with no network."""

from __future__ import annotations

import base64
from typing import Any

import pixmux
import pytest
from pixmux import ConfigurationError, ImageObject, ImageResponse, RateLimitError, UnsupportedParamsError
from pixmux.testing import TINY_PNG_B64, make_engine


def test_mock_true_returns_one_png_per_image(fake: Any, no_network: Any) -> None:
    """``mock_response=True`` gives ``n`` decodable PNGs and sends nothing."""
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(prompt="otter", model="fake/m1", n=3, mock_response=True)

    assert len(resp.data) == 3
    assert all(image.bytes().startswith(b"\x89PNG") for image in resp.data)
    assert resp.cost == 0.0
    assert resp.metadata["provider"] == "fake"
    assert engine.requests == []


def test_mock_base64_string_is_returned(fake: Any, no_network: Any) -> None:
    """A base64 string becomes each image's ``b64_json``."""
    payload = base64.b64encode(b"GIF89a-not-really").decode()
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(prompt="otter", model="fake/m1", n=2, mock_response=payload)

    assert [payload, payload] == [image.b64_json for image in resp.data]


def test_mock_url_string_is_returned_as_url(fake: Any, no_network: Any) -> None:
    """An http(s) URL becomes each image's ``url``."""
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(prompt="otter", model="fake/m1", mock_response="https://img.invalid/a.png")

    assert resp.data[0].url == "https://img.invalid/a.png"
    assert resp.data[0].b64_json is None


def test_mock_true_with_url_format_returns_data_urls(fake: Any, no_network: Any) -> None:
    """With ``response_format="url"`` the mock answers with URLs (data URLs that decode to a PNG)."""
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(prompt="otter", model="fake/m1", response_format="url", mock_response=True)

    assert resp.data[0].url is not None
    assert resp.data[0].url.startswith("data:image/png;base64,")
    assert resp.data[0].bytes().startswith(b"\x89PNG")


def test_mock_image_response_is_returned_as_given(fake: Any, no_network: Any) -> None:
    """An ``ImageResponse`` is returned (with the call's metadata added)."""
    given = ImageResponse(created=5, data=(ImageObject(url="https://img.invalid/x.png", revised_prompt="an otter"),))
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(prompt="otter", model="fake/m1", mock_response=given)

    assert given == resp
    assert resp.metadata["model"] == "m1"


def test_mock_dict_is_read_as_an_images_response(fake: Any, no_network: Any) -> None:
    """An OpenAI-shaped dict is read into an ``ImageResponse``."""
    engine = make_engine(fake, handler=no_network)

    resp = engine.image_generation(
        prompt="otter",
        model="fake/m1",
        mock_response={"created": 9, "data": [{"b64_json": TINY_PNG_B64, "revised_prompt": "otter, cute"}]},
    )

    assert resp.created == 9
    assert resp.data[0].revised_prompt == "otter, cute"


def test_mock_bad_dict_is_a_configuration_error(fake: Any, no_network: Any) -> None:
    """A dict that is not an ImagesResponse raises ConfigurationError naming ``mock_response``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", mock_response={"data": []})

    assert caught.value.param == "mock_response"
    assert "created" in str(caught.value)


def test_mock_exception_is_raised(fake: Any, no_network: Any) -> None:
    """An exception instance is raised, so users can test their error handling."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(RateLimitError, match="slow down"):
        engine.image_generation(prompt="otter", model="fake/m1", mock_response=RateLimitError("slow down"))


def test_mock_invalid_string_is_a_configuration_error(fake: Any, no_network: Any) -> None:
    """A string that is neither base64 nor a URL is refused."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", mock_response="not base64 at all!")

    assert caught.value.param == "mock_response"


def test_mock_still_validates_parameters(fake: Any, no_network: Any) -> None:
    """A mocked call refuses what the real call would refuse."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", size="4096x4096", mock_response=True)

    assert caught.value.param == "size"


def test_mock_false_makes_a_real_call(fake: Any, ok_handler: Any) -> None:
    """``mock_response=False`` is the same as not mocking."""
    engine = make_engine(fake, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1", mock_response=False)

    assert len(engine.requests) == 1


async def test_mock_async_returns_without_network(fake: Any, no_network: Any) -> None:
    """The async path mocks the same way."""
    engine = make_engine(fake, handler=no_network)

    resp = await engine.aimage_generation(prompt="otter", model="fake/m1", n=2, mock_response=True)

    assert len(resp.data) == 2
    assert engine.requests == []


def test_mock_through_the_public_function_needs_no_key(
    monkeypatch: pytest.MonkeyPatch, restore_default_engine: None
) -> None:
    """``pixmux.image_generation(..., mock_response=True)`` works with no key and no network."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    resp = pixmux.image_generation(prompt="otter", model="gpt-image-1", mock_response=True)
    aresp_data = resp.to_dict()["data"]

    assert aresp_data == [{"b64_json": TINY_PNG_B64}]
    assert resp.metadata["provider"] == "openai"


@pytest.mark.parametrize(
    "mock",
    [
        {"created": 1},
        {"created": 1, "data": []},
        {"created": 1, "data": [{"revised_prompt": "an otter"}]},
        ImageResponse(created=1),
    ],
)
def test_mock_response_without_an_image_is_refused(fake: Any, no_network: Any, mock: object) -> None:
    """A mock holding no image raises ConfigurationError naming mock_response: no call succeeds empty."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", mock_response=mock)

    assert caught.value.param == "mock_response"
