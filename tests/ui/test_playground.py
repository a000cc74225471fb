"""
The web playground in a real headless Chromium (Debian's), driven by Playwright, against a
gateway on 127.0.0.1 in front of a stand-in provider. Screenshots at 1280 px and 390 px are
saved under ``tests/ui/artifacts/`` (or ``$PIXMUX_UI_ARTIFACTS``).
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))
sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from gateway_support import MASTER_KEY, RunningGateway, config_dict, provider_server
from pixmux.proxy import create_app, parse_config
from pixmux.testing import TINY_PNG_B64, local_server, reply
from stream_support import KEY as STREAM_KEY
from stream_support import StreamingProvider

__all__ = ["provider_server"]

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PIXMUX_UI_ARTIFACTS", Path(__file__).parent / "artifacts"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is not installed at {CHROMIUM}: .ci/run must install Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def streaming_provider() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


class EditProvider(http.server.BaseHTTPRequestHandler):
    """OpenAI's edits endpoint: keeps each multipart body, answers one image."""

    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        reply(self, 200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def edit_provider() -> Iterator[str]:
    with local_server(EditProvider) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def ui_gateway(
    provider_server: Any, streaming_provider: str, edit_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    config = config_dict(provider_server.url)
    folder = tmp_path_factory.mktemp("ui-db")
    config["general_settings"].update(  # virtual keys and spend on a SQLite file
        {
            "database_url": f"sqlite:///{folder / 'pixmux.db'}",
            "proxy_batch_write_at": 0.05,
            "spend_journal_dir": str(folder / "journal"),
        }
    )
    config["model_list"].append(
        {"model_name": "dalle", "litellm_params": {"model": "openai/dall-e-3", "mock_response": True}}
    )
    config["model_list"].append(
        {
            "model_name": "streamer",
            "litellm_params": {"model": "openai/gpt-image-1", "api_base": streaming_provider, "api_key": STREAM_KEY},
        }
    )
    config["model_list"].append(
        {
            "model_name": "editor",
            "litellm_params": {"model": "openai/gpt-image-1", "api_base": edit_provider, "api_key": STREAM_KEY},
        }
    )
    with RunningGateway(create_app(parse_config(config, path="ui.yaml", environ={}))) as running:
        yield running


@pytest.fixture
def page(browser: Any, ui_gateway: RunningGateway) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(urlparse(request.url).netloc))
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto(f"{ui_gateway.url}/ui")
    yield page
    foreign = {host for host in hosts if host and host != f"127.0.0.1:{ui_gateway.port}"}
    assert not foreign, f"the page reached other hosts: {foreign}"
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    context.close()


def sign_in(page: Any, key: str = MASTER_KEY) -> None:
    page.get_by_label("Gateway key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Playground").wait_for()


def test_a_wrong_key_is_refused_with_the_gateways_message(page: Any) -> None:
    sign_in_button = page.get_by_role("button", name="Sign in")
    page.get_by_label("Gateway key").fill("sk-not-the-key")
    sign_in_button.click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "key" in alert.inner_text().lower()
    assert page.evaluate("sessionStorage.getItem('pixmux.key')") is None
    assert page.context.cookies() == []


def test_sign_in_keeps_the_key_in_session_storage_only(page: Any) -> None:
    sign_in(page)
    assert page.evaluate("sessionStorage.getItem('pixmux.key')") == MASTER_KEY
    assert page.context.cookies() == []
    assert page.evaluate("localStorage.length") == 0


def test_the_form_offers_only_what_the_model_accepts(page: Any) -> None:
    sign_in(page)
    page.get_by_label("Model").first.select_option("gpt-image-1")
    sizes = page.locator("#param-size option").all_inner_texts()
    assert sizes == ["provider default", "1024x1024", "1024x1536", "1536x1024", "auto"]
    assert "640x480" not in sizes
    qualities = page.locator("#param-quality option").all_inner_texts()
    assert set(qualities) >= {"low", "medium", "high"}
    assert page.locator("#param-style").count() == 0  # gpt-image-1 takes no style
    page.get_by_label("Model").first.select_option("dalle")
    assert page.locator("#param-style option").all_inner_texts() == ["provider default", "natural", "vivid"]


def test_generate_shows_the_image_with_cost_and_time(page: Any) -> None:
    sign_in(page)
    page.get_by_label("Model").first.select_option("gpt-image-1")
    page.get_by_label("Prompt").first.fill("a cute baby sea otter")
    page.locator("#param-size").select_option("1024x1024")
    page.locator("#param-quality").select_option("low")
    page.get_by_role("button", name="Generate").click()
    image = page.locator("#gallery img").first
    image.wait_for()
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    caption = page.locator("#gallery .meta").first.inner_text()
    assert "gpt-image-1" in caption
    assert " s " in caption or caption.endswith(" s")
    assert "$0.0110" in caption  # gpt-image-1, low, 1024x1024: the catalogue's price, from x-pixmux-cost
    download = page.locator("#gallery a", has_text="Download").first
    assert download.get_attribute("download").endswith(".png")


def test_streaming_shows_a_partial_image_before_the_final_one(page: Any) -> None:
    sign_in(page)
    page.get_by_label("Model").first.select_option("streamer")
    assert "Streams partial images" in page.locator("#play-model-note").inner_text()
    page.get_by_label("Prompt").first.fill("an otter drawn slowly")
    page.locator("#play-stream").check()
    page.locator("#param-partial_images").select_option("2")
    page.evaluate(
        """() => {
        window.__seen = [];
        new MutationObserver(() => {
          const first = document.querySelector('#gallery li');
          if (first) window.__seen.push(first.className || 'final');
        }).observe(document.querySelector('#gallery'), {subtree: true, childList: true, attributes: true});
    }"""
    )
    page.get_by_role("button", name="Generate").click()
    page.locator("#gallery li:not(.partial) a", has_text="Download").first.wait_for()
    seen = page.evaluate("window.__seen")
    assert "partial" in seen, seen
    assert seen.index("partial") < len(seen) - 1
    assert seen[-1] == "final"
    caption = page.locator("#gallery .meta").first.inner_text()
    assert "first preview" in caption
    assert "$" in caption  # the cost, from the stream's pixmux comment


def test_edit_with_a_drawn_mask_sends_the_image_and_the_mask(page: Any, tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "room.png"
    Image.new("RGB", (64, 48), (30, 120, 200)).save(picture)
    sign_in(page)
    page.get_by_role("button", name="Edit", exact=True).click()
    page.locator("#edit-model").select_option("editor")
    page.locator("#edit-images").set_input_files(str(picture))
    canvas = page.locator("#mask-canvas")
    page.wait_for_function("document.querySelector('#mask-canvas').width === 64")
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    EditProvider.bodies.clear()
    page.locator("#edit-prompt").fill("put a sofa by the window")
    page.get_by_role("button", name="Edit", exact=True).last.click()
    page.locator("#edit-results img").first.wait_for()
    body = EditProvider.bodies[-1]
    assert b'name="mask"' in body
    assert b'name="prompt"' in body
    assert b"put a sofa by the window" in body
    mask_part = body.split(b'name="mask"', 1)[1]
    mask_png = mask_part[mask_part.index(b"\x89PNG") :]
    mask = Image.open(io.BytesIO(mask_png))
    assert mask.size == (64, 48)  # the image's own size, as OpenAI requires
    alpha = mask.convert("RGBA").getchannel("A")
    assert alpha.getpixel((32, 24)) == 0  # painted: transparent, edited here
    assert alpha.getpixel((2, 2)) == 255  # untouched: opaque, kept


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_admin_creates_a_key_sees_its_spend_and_revokes_it(page: Any) -> None:
    sign_in(page)
    page.get_by_role("button", name="Admin", exact=True).click()
    page.locator("#health-table tbody tr").first.wait_for()
    assert "healthy" in page.locator("#health-table").inner_text()
    page.locator("#key-alias").fill("app-one")
    page.locator("#key-budget").fill("5")
    page.get_by_role("button", name="Create key").click()
    page.locator("#key-created", has_text="sk-").wait_for()
    key = page.locator("#key-created").inner_text().rsplit(" ", 1)[-1]
    page.locator("#keys-table tbody tr", has_text="app-one").wait_for()

    sign_out(page)  # the app uses its own key
    sign_in(page, key)
    page.get_by_label("Model").first.select_option("gpt-image-1")
    page.get_by_label("Prompt").first.fill("an otter paid for")
    page.locator("#param-size").select_option("1024x1024")
    page.locator("#param-quality").select_option("low")
    page.get_by_role("button", name="Generate").click()
    page.locator("#gallery img").first.wait_for()

    sign_out(page)
    sign_in(page)
    page.get_by_role("button", name="Admin", exact=True).click()
    page.locator("#spend-group").select_option("api_key")
    page.locator("#spend-table tbody tr", has_text="$0.0110").wait_for()  # the call's price, as a chart and a row
    assert page.locator("#spend-chart rect").count() >= 1
    page.locator("#keys-table tbody tr", has_text="app-one").locator("td", has_text="$0.0110").wait_for()

    page.get_by_role("button", name="Revoke key app-one").click()
    page.get_by_role("alert").filter(has_text="revoked").wait_for()
    page.locator("#keys-table tbody tr", has_text="app-one").wait_for(state="detached")
    sign_out(page)
    page.get_by_label("Gateway key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_a_refused_value_shows_the_gateways_message(page: Any) -> None:
    sign_in(page)
    page.get_by_label("Model").first.select_option("sd")  # an unknown model: free-text size
    page.locator("#param-size").fill("640x480")
    page.get_by_label("Prompt").first.fill("forbidden-words in a prompt")
    page.get_by_role("button", name="Generate").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "safety system" in alert.inner_text()


def test_compare_runs_two_models_side_by_side(page: Any) -> None:
    sign_in(page)
    page.get_by_role("button", name="Compare").first.click()
    page.locator("#compare-prompt").fill("a lighthouse")
    page.get_by_role("button", name="Compare", exact=True).last.click()
    page.locator("#compare-results img").nth(1).wait_for()
    captions = " ".join(page.locator("#compare-results .meta").all_inner_texts())
    assert "sd" in captions
    assert "gpt-image-1" in captions


def test_keyboard_alone_reaches_every_view(page: Any) -> None:
    sign_in(page)
    for name in ("Compare", "Edit", "Playground"):
        page.get_by_role("button", name=name, exact=True).first.focus()
        page.keyboard.press("Enter")
        assert page.get_by_role("heading", name=name if name != "Edit" else "Edit an image").is_visible()


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_screenshots_at_desktop_and_phone_widths(
    browser: Any, ui_gateway: RunningGateway, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{ui_gateway.url}/ui")
    sign_in(page)
    page.get_by_label("Prompt").first.fill("an otter")
    page.get_by_role("button", name="Generate").click()
    page.locator("#gallery img").first.wait_for()
    # nothing wider than the screen: the layout works at this width
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a {width}px screen"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"playground-{width}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000
    page.get_by_role("button", name="Admin", exact=True).click()
    page.locator("#health-table tbody tr").first.wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the admin page is {overflow}px wider than a {width}px screen"
    page.screenshot(path=str(ARTIFACTS / f"admin-{width}.png"), full_page=True)
    context.close()
