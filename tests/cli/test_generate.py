"""``pixmux generate`` in-process (``main([...])``) against the local OpenAI-compatible server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from PIL import Image
from pixmux._cli import main, parse_param_value

if TYPE_CHECKING:
    from tests.cli.conftest import MockOpenAI

SCHEMA = json.loads((Path(__file__).parent / "images-response.schema.json").read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command; return its exit status, stdout and stderr."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def generate(server: MockOpenAI, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``pixmux generate`` pointed at the local server."""
    return run(capsys, "generate", *argv, "--api-base", server.url)


def open_image(path: Path) -> Image.Image:
    """Open an image file with Pillow and make it decode its pixels (a truncated file fails here)."""
    image = Image.open(io.BytesIO(path.read_bytes()))
    image.load()
    return image


def assert_one_error_line(err: str) -> str:
    """The error output is a single line, with no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_generate_writes_real_png_and_prints_path(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GPT image call writes a real PNG named after the prompt, prints its path, the model, time and cost."""
    status, out, err = generate(openai_server, capsys, "a cute baby sea otter", "-m", "openai/gpt-image-1")

    assert status == 0, err
    assert out.splitlines() == ["a-cute-baby-sea-otter-1.png"]
    image = open_image(clean_env / "a-cute-baby-sea-otter-1.png")
    assert image.format == "PNG"
    assert image.size == (8, 8)
    assert "openai/gpt-image-1" in err
    assert "1 image" in err
    assert "cost $" in err
    sent = openai_server.generations()[0]
    assert sent.body == {"model": "gpt-image-1", "prompt": "a cute baby sea otter"}


def test_generate_names_file_extension_after_the_image_bytes(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking for JPEG output writes a .jpeg file that Pillow reads as JPEG."""
    status, out, err = generate(
        openai_server, capsys, "otter", "-m", "gpt-image-1", "-p", "output_format=jpeg", "-o", "pics"
    )

    assert status == 0, err
    path = Path(out.strip())
    assert Path("pics/otter-1.jpeg") == path
    assert open_image(clean_env / path).format == "JPEG"
    assert openai_server.generations()[0].body["output_format"] == "jpeg"


def test_generate_downloads_url_images(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --response-format url, each image is downloaded from its URL and saved as a real file."""
    status, out, err = generate(
        openai_server, capsys, "two lighthouses", "-m", "openai/my-sd-model", "--n", "2", "--response-format", "url"
    )

    assert status == 0, err
    paths = [clean_env / line for line in out.splitlines()]
    assert [path.name for path in paths] == ["two-lighthouses-1.png", "two-lighthouses-2.png"]
    assert all(open_image(path).format == "PNG" for path in paths)
    assert sum(1 for item in openai_server.seen if item.method == "GET" and item.path.startswith("/files/")) == 2
    body = openai_server.generations()[0].body
    assert body == {"model": "my-sd-model", "prompt": "two lighthouses", "n": 2, "response_format": "url"}


def test_generate_sends_typed_provider_params(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-p values arrive in the body as numbers, booleans, JSON and strings, as the user meant them."""
    status, _, err = generate(
        openai_server,
        capsys,
        "otter",
        "-m",
        "openai/my-sd-model",
        "-p",
        "seed=42",
        "-p",
        "guidance_scale=7.5",
        "-p",
        "tiling=true",
        "-p",
        'lora={"name": "watercolor", "weight": 0.6}',
        "-p",
        'tags=["sea", "otter"]',
        "-p",
        'label="42"',
        "-p",
        "negative_prompt=blurry, low quality",
    )

    assert status == 0, err
    body = openai_server.generations()[0].body
    assert body["seed"] == 42
    assert body["guidance_scale"] == 7.5
    assert True is body["tiling"]
    assert body["lora"] == {"name": "watercolor", "weight": 0.6}
    assert body["tags"] == ["sea", "otter"]
    assert body["label"] == "42"
    assert body["negative_prompt"] == "blurry, low quality"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("null", None),
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("[1, 2]", [1, 2]),
        ('"007"', "007"),
        ("blurry", "blurry"),
        ("nan", "nan"),
        ("1024x1024", "1024x1024"),
        ("", ""),
    ],
)
def test_parse_param_value_types_values_sensibly(raw: str, expected: Any) -> None:
    """Numbers, booleans, null and JSON are typed; everything else stays the string typed."""
    assert expected == parse_param_value(raw)
    assert type(expected) is type(parse_param_value(raw))


def test_generate_json_prints_an_images_response(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints OpenAI's ImagesResponse, nothing pixmux-specific, and writes no file."""
    status, out, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--json")

    assert status == 0, err
    payload = json.loads(out)
    jsonschema.validate(payload, SCHEMA)
    assert set(payload) <= set(SCHEMA["$defs"]["ImagesResponse"]["properties"])
    assert len(payload["data"]) == 1
    assert list(clean_env.iterdir()) == []


def test_generate_json_with_output_also_writes_files(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json with -o writes the images too, keeping stdout pure JSON and listing paths on stderr."""
    status, out, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--json", "-o", "out")

    assert status == 0, err
    jsonschema.validate(json.loads(out), SCHEMA)
    assert "out/otter-1.png" in err
    assert open_image(clean_env / "out" / "otter-1.png").format == "PNG"


def test_generate_never_overwrites_earlier_images(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run with the same prompt numbers its files after the first run's."""
    generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--n", "2")
    first = (clean_env / "otter-1.png").read_bytes()

    status, out, _ = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--name", "otter")

    assert status == 0
    assert out.splitlines() == ["otter-3.png"]
    assert first == (clean_env / "otter-1.png").read_bytes()


def test_generate_unsupported_size_is_one_line_naming_param_and_accepted(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unsupported size fails before any request, in one line naming the parameter and what is accepted."""
    status, out, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--size", "640x480")

    assert status == 1
    line = assert_one_error_line(err)
    assert "UnsupportedParamsError" in line
    assert "size='640x480'" in line
    assert "accepted: 1024x1024, 1024x1536, 1536x1024, auto" in line
    assert "--size" in line
    assert out == ""
    assert openai_server.generations() == []


def test_generate_unknown_provider_param_names_option(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A provider parameter the model does not take is named, with the -p form to fix it."""
    status, _, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "-p", "seed=1")

    assert status == 1
    line = assert_one_error_line(err)
    assert "'seed'" in line
    assert "background, input_fidelity, moderation, output_compression, output_format" in line
    assert "-p seed=" in line


def test_generate_drop_params_warns_and_succeeds(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--drop-params drops what the model refuses, says so on stderr, and still writes the image."""
    status, out, err = generate(
        openai_server, capsys, "otter", "-m", "gpt-image-1", "--style", "vivid", "--drop-params"
    )

    assert status == 0, err
    assert "warning: dropped style='vivid'" in err
    assert "style" not in openai_server.generations()[0].body
    assert len(out.splitlines()) == 1


def test_generate_content_policy_refusal_exits_non_zero(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A safety refusal is a ContentPolicyViolationError line carrying the provider's message."""
    status, out, err = generate(openai_server, capsys, "please refuse this", "-m", "gpt-image-1")

    assert status == 1
    line = assert_one_error_line(err)
    assert "ContentPolicyViolationError" in line
    assert "rejected as a result of our safety system" in line
    assert out == ""


def test_generate_rate_limit_says_when_to_retry(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 429 is a RateLimitError line that says how long the provider asked to wait."""
    status, _, err = generate(openai_server, capsys, "busy otter", "-m", "gpt-image-1", "--num-retries", "0")

    assert status == 1
    line = assert_one_error_line(err)
    assert "RateLimitError" in line
    assert "retry after 7s" in line


def test_generate_unreadable_body_is_a_typed_error(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 200 that is not JSON is reported as an APIResponseValidationError, not a crash."""
    status, _, err = generate(openai_server, capsys, "garbage otter", "-m", "gpt-image-1")

    assert status == 1
    assert "APIResponseValidationError" in assert_one_error_line(err)


def test_generate_never_prints_the_api_key(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even when the provider echoes the key in its error, the key never reaches the terminal."""
    key = "sk-wrong-0123456789abcdef"
    status, out, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--api-key", key)

    assert status == 1
    line = assert_one_error_line(err)
    assert "AuthenticationError" in line
    assert key not in err + out
    assert f"Bearer {key}" == openai_server.generations()[0].headers["Authorization"]


def test_generate_debug_adds_the_traceback(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--debug prints the traceback before the error line."""
    status, _, err = generate(openai_server, capsys, "otter", "-m", "gpt-image-1", "--size", "1x1", "--debug")

    assert status == 1
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("pixmux: error: UnsupportedParamsError")


def test_generate_unknown_provider_names_the_package(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model string with an uninstalled provider says which package to install."""
    status, _, err = run(capsys, "generate", "otter", "-m", "nosuch/model-1")

    assert status == 1
    line = assert_one_error_line(err)
    assert "ProviderNotFoundError" in line
    assert "pip install pixmux-nosuch" in line


def test_generate_unreachable_server_is_a_connection_error(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server that is not listening gives an APIConnectionError line."""
    status, _, err = run(
        capsys, "generate", "otter", "-m", "gpt-image-1", "--api-base", "http://127.0.0.1:9/v1", "--num-retries", "0"
    )

    assert status == 1
    assert "APIConnectionError" in assert_one_error_line(err)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["-p", "seed"], "-p expects KEY=VALUE"),
        (["-p", "=3"], "-p expects KEY=VALUE"),
        (["-p", "my-key=3"], "letters, digits and underscores"),
        (["-p", "lora={oops"], "-p lora: not valid JSON"),
        (["--size", "1024x1024", "-p", "size=512x512"], "size is given twice"),
        (["-p", "seed=1", "-p", "seed=2"], "-p seed is given twice"),
        (["-p", "model=x"], "give the model as -m"),
        (["--n", "two"], "argument -n/--n: invalid int value: 'two'"),
        (["--response-format", "png"], "argument --response-format: invalid choice: 'png'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_generate_bad_command_line_is_one_usage_line(
    clean_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """Command-line mistakes exit 2 with one line saying what is wrong, before any call."""
    status, out, err = run(capsys, "generate", "otter", "-m", "gpt-image-1", "--mock", *argv)

    assert status == 2
    line = assert_one_error_line(err)
    assert says in line
    assert out == ""


def test_generate_empty_prompt_is_a_usage_error(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty prompt is refused on the command line."""
    status, _, err = run(capsys, "generate", "  ", "--mock")

    assert status == 2
    assert "the prompt is empty" in assert_one_error_line(err)


def test_generate_reads_the_prompt_from_stdin(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROMPT '-' reads the prompt from stdin, trimmed."""
    monkeypatch.setattr("sys.stdin", io.StringIO("a lighthouse at dusk\n"))

    status, out, _ = generate(openai_server, capsys, "-", "-m", "gpt-image-1")

    assert status == 0
    assert openai_server.generations()[0].body["prompt"] == "a lighthouse at dusk"
    assert out.splitlines() == ["a-lighthouse-at-dusk-1.png"]


def test_generate_mock_needs_no_network(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--mock returns a real 1x1 PNG per image without any server or key."""
    status, out, err = run(capsys, "generate", "otter", "-m", "gpt-image-1", "--n", "3", "--mock")

    assert status == 0, err
    paths = [clean_env / line for line in out.splitlines()]
    assert len(paths) == 3
    assert all(open_image(path).size == (1, 1) for path in paths)


def test_generate_shows_revised_prompt(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The prompt a provider actually used is shown on stderr."""
    status, _, err = generate(openai_server, capsys, "a fox", "-m", "openai/dall-e-3")

    assert status == 0, err
    assert "revised prompt: A detailed rendering of a fox" in err
