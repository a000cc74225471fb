"""The gemini provider: URLs, headers, bodies and round trips through the engine on recorded Google bodies."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings

import httpx
import pixmux_gemini.provider as gemini
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import AuthenticationError, ContentPolicyViolationError, NotFoundError, UnsupportedParamsError
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageRequest

KEY = "AIzaSy-test-key-0123456789"


def _engine(*bodies: tuple[int, str], environ: dict[str, str] | None = None):
    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        status, name = queue.pop(0) if len(queue) > 1 else queue[0]
        return json_response(status, load_json(name))

    return make_engine(gemini, handler=handler, environ=environ)


def _sent(engine) -> list[dict]:
    return [json.loads(request.content) for request in engine.requests]


def test_plugin_meets_the_contract():
    """check_plugin finds no problem with the gemini provider."""
    assert check_plugin(gemini, name="gemini") == []


def test_build_request_puts_the_key_in_a_header_never_the_url():
    """The key travels in x-goog-api-key; the URL carries no key."""
    request = ImageRequest(prompt="otter", model="gemini-2.5-flash-image")
    deployment = Deployment(provider="gemini", model="gemini-2.5-flash-image", api_key=KEY)

    [built] = gemini.build_request(request=request, deployment=deployment, model=gemini.CATALOGUE.lookup(request.model))

    assert built.headers["x-goog-api-key"] == KEY
    assert KEY not in str(built.url)
    assert "key" not in built.url.params
    assert (
        str(built.url)
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-image:generateContent"
    )


def test_round_trip_gemini_image_model_keeps_text_usage_and_cost():
    """A Gemini image model goes to :generateContent; image, text, usage and token cost come back."""
    engine = _engine((200, "gemini_image.json"))

    resp = engine.image_generation(prompt="banana in a tuxedo", model="gemini/gemini-2.5-flash-image", api_key=KEY)

    assert engine.requests[0].url.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert _sent(engine)[0] == {
        "contents": [{"role": "user", "parts": [{"text": "banana in a tuxedo"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }
    assert resp.data[0].b64_json == TINY_PNG_B64
    assert resp.metadata["text"] == ["Here is your banana in a tuxedo."]
    assert resp.usage is not None
    assert resp.usage.total_tokens == 1307
    assert resp.cost == pytest.approx(9 * 0.3e-6 + 1290 * 30e-6 + 8 * 2.5e-6)
    assert resp.to_dict()["usage"]["output_tokens_details"] == {"image_tokens": 1290, "text_tokens": 8}


def test_round_trip_sends_size_as_image_config():
    """size becomes imageConfig.aspectRatio and imageSize; quality alone picks the tier."""
    engine = _engine((200, "gemini_image.json"))

    engine.image_generation(prompt="x", model="gemini/gemini-3-pro-image", size="2048x2048", api_key=KEY)
    engine.image_generation(prompt="x", model="gemini/gemini-3.1-flash-image", quality="low", api_key=KEY)

    assert _sent(engine)[0]["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    assert _sent(engine)[1]["generationConfig"]["imageConfig"] == {"imageSize": "512"}


def test_n_images_are_n_requests_merged_with_summed_usage():
    """n=3 sends three :generateContent requests and returns three images with usage added up."""
    engine = _engine((200, "gemini_image.json"))

    resp = engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", n=3, api_key=KEY)

    assert len(engine.requests) == 3
    assert len(resp.data) == 3
    assert resp.usage is not None
    assert resp.usage.total_tokens == 3 * 1307
    assert len(resp.metadata["text"]) == 3


def test_some_of_several_filtered_returns_the_rest():
    """Two asked, one refused with IMAGE_SAFETY: one image returned, the refusal reported in refused."""
    engine = _engine((200, "gemini_image.json"), (200, "gemini_image_safety.json"))

    resp = engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", n=2, api_key=KEY)

    assert len(resp.data) == 1
    assert [item.reason for item in resp.refused] == ["IMAGE_SAFETY"]


def test_all_of_several_filtered_is_a_content_policy_violation():
    """Two asked, both refused: ContentPolicyViolationError with Google's reason, not an empty success."""
    engine = _engine((200, "gemini_image_safety.json"))

    with pytest.raises(ContentPolicyViolationError, match="IMAGE_SAFETY") as caught:
        engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", n=2, api_key=KEY)

    assert caught.value.status_code == 400


def test_blocked_prompt_is_a_content_policy_violation():
    """promptFeedback.blockReason is a ContentPolicyViolationError naming the reason."""
    engine = _engine((200, "gemini_prompt_blocked.json"))

    with pytest.raises(ContentPolicyViolationError, match="PROHIBITED_CONTENT"):
        engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", api_key=KEY)


def test_imagen_goes_to_predict_warns_and_explains_the_404():
    """Imagen models use :predict; Google shut them down here, so the call warns and a 404 says so."""
    engine = _engine((404, "error_not_found.json"))

    with pytest.warns(PixmuxWarning, match="2026-08-17"), pytest.raises(NotFoundError, match="shut down"):
        engine.image_generation(prompt="x", model="gemini/imagen-4.0-generate-001", n=2, api_key=KEY)

    assert engine.requests[0].url.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert _sent(engine)[0]["parameters"] == {"sampleCount": 2, "includeRaiReason": True}


def test_imagen_mixed_result_returns_the_rest():
    """An Imagen answer with one image and one filtered entry returns the image and reports the other."""
    engine = _engine((200, "imagen_mixed.json"))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PixmuxWarning)
        resp = engine.image_generation(prompt="x", model="gemini/imagen-4.0-fast-generate-001", n=2, api_key=KEY)

    assert len(resp.data) == 1
    assert len(resp.refused) == 1
    assert resp.cost == pytest.approx(0.02)


def test_invalid_key_is_an_authentication_error_without_the_key():
    """Google's 400 API_KEY_INVALID is an AuthenticationError (401); the key appears nowhere."""
    engine = _engine((400, "error_api_key.json"))

    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", api_key=KEY)

    assert caught.value.status_code == 401
    assert "API key not valid" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


def test_missing_key_is_refused_before_sending():
    """No key anywhere: AuthenticationError naming GEMINI_API_KEY, and nothing sent."""
    engine = _engine((200, "gemini_image.json"))

    with pytest.raises(AuthenticationError, match="GEMINI_API_KEY"):
        engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image")

    assert engine.requests == []


def test_key_and_base_come_from_the_environment():
    """GEMINI_API_KEY and GEMINI_API_BASE are read by the core and used."""
    engine = _engine(
        (200, "gemini_image.json"), environ={"GEMINI_API_KEY": KEY, "GEMINI_API_BASE": "http://127.0.0.1:9/g/v1beta/"}
    )

    engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image")

    assert str(engine.requests[0].url) == "http://127.0.0.1:9/g/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert engine.requests[0].headers["x-goog-api-key"] == KEY


def test_native_parameters_pass_through_in_google_names():
    """aspect_ratio, safetySettings, seed and temperature reach the body under Google's names."""
    engine = _engine((200, "gemini_image.json"))

    engine.image_generation(
        prompt="x",
        model="gemini/gemini-3-pro-image",
        api_key=KEY,
        aspect_ratio="21:9",
        image_size="4K",
        seed=3,
        temperature=0.2,
        safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    )

    body = _sent(engine)[0]
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "21:9", "imageSize": "4K"}
    assert (body["generationConfig"]["seed"], body["generationConfig"]["temperature"]) == (3, 0.2)
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]


def test_vertex_only_parameters_are_refused():
    """personGeneration on a Gemini model is Vertex-only: refused before sending, naming it."""
    engine = _engine((200, "gemini_image.json"))

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(
            prompt="x", model="gemini/gemini-2.5-flash-image", api_key=KEY, personGeneration="ALLOW_ALL"
        )

    assert caught.value.param == "personGeneration"
    assert engine.requests == []


def test_unknown_model_is_routed_by_name():
    """A model the catalogue does not list is sent leniently, to the API its name implies."""
    engine = _engine((200, "gemini_image.json"))

    engine.image_generation(prompt="x", model="gemini/gemini-4-image-preview", api_key=KEY, size="1024x1024")

    assert engine.requests[0].url.path.endswith("gemini-4-image-preview:generateContent")
    assert _sent(engine)[0]["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


async def test_async_round_trip():
    """The async path sends the same request and reads the same answer."""
    engine = _engine((200, "gemini_image.json"))

    resp = await engine.aimage_generation(prompt="x", model="gemini/gemini-2.5-flash-image", n=2, api_key=KEY)

    assert len(resp.data) == 2
    assert len(engine.requests) == 2


def test_secrets_stay_out_of_logs_and_reprs(caplog):
    """With debug logging on, neither the key nor the request shows it anywhere printable."""
    engine = _engine((200, "gemini_image.json"))

    with caplog.at_level(logging.DEBUG):
        resp = engine.image_generation(prompt="x", model="gemini/gemini-2.5-flash-image", api_key=KEY)

    assert KEY not in caplog.text
    assert KEY not in repr(resp)
    assert KEY not in json.dumps(resp.metadata, default=str)
    assert KEY not in str(engine.requests[0].url)


def test_import_pixmux_imports_no_google_library():
    """import pixmux, and loading the gemini plugin, import no Google library and no other provider."""
    code = (
        "import sys, pixmux, pixmux_gemini.provider;"
        "bad = [m for m in sys.modules if m.startswith(('google', 'pixmux_vertex_ai', 'pixmux_openai'))];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_negative_token_counts_give_no_usage_and_the_catalogue_price():
    """An odd usageMetadata with a negative count is no usage: never a negative cost."""
    body = load_json("gemini_image.json")
    body["usageMetadata"]["candidatesTokenCount"] = -14192
    engine = make_engine(gemini, handler=lambda request: json_response(200, body))

    resp = engine.image_generation(prompt="banana", model="gemini/gemini-2.5-flash-image", api_key=KEY)

    assert resp.usage is None
    assert resp.cost is None or resp.cost >= 0
