"""
The ``pixmux`` command: generate images from a terminal, list providers and models, start the gateway.

::

    pixmux generate "a cute baby sea otter" -m gpt-image-1 --size 1024x1024 -o out/
    pixmux generate "a lighthouse" -m openai/my-sd --api-base http://127.0.0.1:8000/v1 -p seed=42
    pixmux providers
    pixmux models openai
    pixmux serve --config config.yaml        # the gateway (pip install "pixmux[proxy]")

Image paths go to stdout, one per line; the summary (model, time, cost), warnings, live
progress (only when stderr is a terminal) and errors go to stderr. An error is one line and a
non-zero exit status (1: the call failed, 2: the command line is wrong, 130: interrupted);
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from pixmux import __version__, _cli_edits
from pixmux.exceptions import is_secret_name, redact

if TYPE_CHECKING:
    from pixmux.catalogue import Catalogue, ModelInfo, Pricing
    from pixmux.types import ImageResponse, ImageStreamEvent

__all__ = ["main", "build_parser", "parse_param_value"]

PROG = "pixmux"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: The library's keyword arguments that have their own option; ``-p`` may set them only when the option is unset.
_OPTION_PARAMS = {
    "n": "--n",
    "size": "--size",
    "quality": "--quality",
    "style": "--style",
    "response_format": "--response-format",
    "user": "--user",
    "api_key": "--api-key",
    "api_base": "--api-base",
    "api_version": "--api-version",
    "timeout": "--timeout",
    "num_retries": "--num-retries",
    "custom_llm_provider": "--provider",
    "drop_params": "--drop-params",
    "mock_response": "--mock",
}
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


class UsageError(Exception):
    """The command line is wrong: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage dump) and never exit the process."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (``serve`` and ``--config`` are dispatched to the gateway before it runs)."""
    parser = _Parser(
        prog=PROG,
        description="One OpenAI-style API over every image-generation model.",
        epilog="Run 'pixmux COMMAND --help' for a command's options. Docs: the project's documentation site.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="print the traceback of an error")

    gen = commands.add_parser(
        "generate",
        parents=[debug],
        help="generate images from a prompt and save them",
        description=(
            "Generate images and write each one to a file named after the prompt, with the extension "
            "that matches the image (png, jpeg, webp...). Paths go to stdout; model, time and cost to stderr."
        ),
    )
    gen.add_argument("prompt", help="what to draw ('-' reads the prompt from stdin)")
    gen.add_argument(
        "-m",
        "--model",
        default=None,
        help="model string: 'provider/model' or a bare OpenAI name (default: openai/gpt-image-1)",
    )
    gen.add_argument("-n", "--n", type=int, default=None, metavar="N", help="how many images")
    gen.add_argument("--size", help="image size, e.g. 1024x1024 (what is accepted depends on the model)")
    gen.add_argument("--quality", help="e.g. low, medium, high, standard, hd")
    gen.add_argument("--style", help="e.g. vivid, natural (models that have styles)")
    gen.add_argument("--response-format", choices=("url", "b64_json"), help="how the provider returns images")
    gen.add_argument("--user", help="an end-user id passed to the provider")
    gen.add_argument("--api-base", help="endpoint override (any OpenAI-compatible server with openai/<name>)")
    gen.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    gen.add_argument("--api-version", help="API version, where the provider has one (Azure)")
    gen.add_argument("--timeout", type=float, help="seconds for the whole call, retries included (default: 600)")
    gen.add_argument(
        "--num-retries",
        type=int,
        metavar="N",
        help="retries after a 429, 408, 5xx or connection error (default: the library's, 2)",
    )
    gen.add_argument("--provider", help="force a provider for a model name without a prefix")
    gen.add_argument(
        "--drop-params", action="store_true", help="drop parameters the model does not accept (with a warning)"
    )
    gen.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provider-specific parameter, repeatable: -p seed=42 -p negative_prompt=blurry "
        "(numbers, true/false, null and JSON objects/lists are typed; quote JSON strings to keep '42' a string)",
    )
    gen.add_argument("-o", "--output", metavar="DIR", help="directory to write images in (default: .)")
    gen.add_argument(
        "--name", metavar="STEM", help="file name stem (default: from the prompt); files are STEM-1.png, STEM-2.png..."
    )
    gen.add_argument(
        "--json",
        action="store_true",
        help="print the OpenAI-shaped response JSON instead of paths (files are written only with -o)",
    )
    gen.add_argument("--mock", action="store_true", help="no network: return a 1x1 PNG per image (try things out)")
    gen.add_argument(
        "--stream",
        action="store_true",
        help="write partial images as they arrive (STEM-1.partial-0.png ...), then the final ones; "
        "with --json, print each event as a JSON line",
    )
    gen.add_argument(
        "--partial-images",
        type=int,
        metavar="N",
        help="with --stream: how many previews (0 to 3) a model that streams natively sends",
    )

    _cli_edits.add_commands(commands, debug)

    providers = commands.add_parser(
        "providers",
        parents=[debug],
        help="list installed provider plugins and their models",
        description="List installed provider plugins: distribution, version and models with their sizes and qualities.",
    )
    providers.add_argument("--json", action="store_true", help="print the listing as JSON")

    models = commands.add_parser(
        "models",
        parents=[debug],
        help="list one provider's models in detail",
        description="What one provider's catalogue says about each model: sizes, qualities, n, parameters, prices.",
    )
    models.add_argument("provider", help="the provider name, as in model strings (openai, bedrock, ...)")
    models.add_argument("--json", action="store_true", help="print the models as JSON")

    commands.add_parser(
        "serve",
        add_help=False,
        help="start the OpenAI-compatible gateway: pixmux serve --config config.yaml (needs pixmux[proxy])",
    )
    for name, text in (
        ("keys", "the gateway's virtual keys: pixmux keys create|list|revoke --config config.yaml (needs pixmux[db])"),
        ("spend", "the gateway's spend per day, key and model: pixmux spend --config config.yaml"),
        ("db", "the gateway's database: pixmux db upgrade --config config.yaml"),
    ):
        commands.add_parser(name, add_help=False, help=text)
    return parser


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the ``pixmux`` command with ``argv`` (default ``sys.argv[1:]``) and return its exit status.

    ``pixmux serve ...`` and ``pixmux --config FILE ...`` go to the gateway's own command line.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    secrets: list[str] = []
    try:
        if args and args[0] == "serve":
            return _serve(args[1:])
        if args and args[0] in ("keys", "spend", "db"):  # virtual keys and spend (pixmux[db])
            return _accounting(args)
        if args and args[0].startswith("-") and any(a == "--config" or a.startswith("--config=") for a in args):
            return _serve(args)
        return _run(args, secrets)
    except UsageError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout was closed early (`pixmux providers | head -1`): not an error worth a message.
        _silence_stdout()
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the command's last line of defence: one line, never a traceback
        if debug:
            traceback.print_exc()
        _say(redact(describe_error(exc, debug=debug), secrets, min_length=4))
        return EXIT_FAILED


def _run(args: list[str], secrets: list[str]) -> int:
    parser = build_parser()
    try:
        ns = parser.parse_args(args)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if ns.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if ns.command == "generate":
        return _generate(ns, secrets)
    if ns.command in ("edit", "variation"):
        return _cli_edits.run(ns, secrets)
    if ns.command == "providers":
        return _providers(ns)
    if ns.command == "models":
        return _models(ns)
    raise UsageError(f"{PROG}: unknown command {ns.command!r}")  # pragma: no cover - argparse rejects it first


def describe_error(exc: BaseException, *, debug: bool = False) -> str:
    """The one line the command prints for an error: what failed and, for a parameter, which one."""
    from pixmux.exceptions import AuthenticationError, PixmuxError

    if isinstance(exc, PixmuxError):
        text = _one_line(str(exc))
        if exc.param:
            text += f" (option: {_option_for(exc.param)})"
        if exc.retry_after is not None:
            text += f" (retry after {exc.retry_after:g}s)"
        if isinstance(exc, AuthenticationError):
            text += " (on the command line: --api-key, or the provider's environment variable)"
        return f"{PROG}: error: {type(exc).__name__}: {text}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{PROG}: error: cannot write {exc.filename}: {exc.strerror or exc}"
    hint = "" if debug else " (run again with --debug for the traceback)"
    return f"{PROG}: error: unexpected {type(exc).__name__}: {_one_line(str(exc))}{hint}"


# --------------------------------------------------------------------------- generate


def parse_param_value(raw: str) -> Any:
    """
    Type a ``-p KEY=VALUE`` value the way a user means it.

    ``42`` → int, ``0.5`` / ``1e-3`` → float, ``true`` / ``false`` → bool, ``null`` → None,
    ``{...}`` / ``[...]`` / ``"..."`` → JSON (a quoted value stays a string), anything else → the string.

    Raises:
        UsageError: the value starts like JSON but is not valid JSON.
    """
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text[:1] in ("{", "[", '"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"not valid JSON: {exc.msg} at character {exc.pos}") from exc
    return raw


def _parse_params(items: Iterable[str], ns: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{PROG} generate: -p expects KEY=VALUE, got {item!r}")
        if not key.isidentifier():
            raise UsageError(f"{PROG} generate: -p {key!r}: a parameter name is letters, digits and underscores")
        if key in ("prompt", "model"):
            raise UsageError(f"{PROG} generate: -p {key}: give the {key} as {'PROMPT' if key == 'prompt' else '-m'}")
        option = _OPTION_PARAMS.get(key)
        if option is not None and getattr(ns, _dest(option), None) not in (None, False):
            raise UsageError(f"{PROG} generate: {key} is given twice (-p {key}= and {option})")
        if key in params:
            raise UsageError(f"{PROG} generate: -p {key} is given twice")
        try:
            params[key] = parse_param_value(raw)
        except UsageError as exc:
            raise UsageError(f"{PROG} generate: -p {key}: {exc}") from exc
    return params


def _option_for(param: str) -> str:
    """The command-line option that sets a library parameter."""
    named = {"model": "-m", "prompt": "PROMPT", "mask": "--mask", **_OPTION_PARAMS}
    if param == "image" or param.startswith("image["):
        return "IMAGE"
    return named.get(param, f"-p {param}=...")


def _dest(option: str) -> str:
    return "provider" if option == "--provider" else option.lstrip("-").replace("-", "_")


def _read_prompt(prompt: str) -> str:
    if prompt == "-":
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError(f"{PROG} generate: the prompt is empty")
    return prompt.strip()


def _generate(ns: argparse.Namespace, secrets: list[str]) -> int:
    from pixmux._api import image_generation
    from pixmux._engine import DEFAULT_MODEL

    if ns.api_key:
        secrets.append(ns.api_key)
    params = _parse_params(ns.param, ns)
    secrets.extend(str(value) for key, value in params.items() if value and is_secret_name(key))
    prompt = _read_prompt(ns.prompt)
    model = ns.model or DEFAULT_MODEL
    options: dict[str, Any] = {
        "n": ns.n,
        "size": ns.size,
        "quality": ns.quality,
        "style": ns.style,
        "response_format": ns.response_format,
        "user": ns.user,
        "api_key": ns.api_key,
        "api_base": ns.api_base,
        "api_version": ns.api_version,
        "timeout": ns.timeout,
        "num_retries": ns.num_retries,
        "custom_llm_provider": ns.provider,
        "drop_params": ns.drop_params or None,
        "mock_response": True if ns.mock else None,
    }
    kwargs = {key: value for key, value in options.items() if value is not None}
    kwargs.update(params)
    if ns.partial_images is not None:
        kwargs["partial_images"] = ns.partial_images
    if ns.stream:
        return _generate_stream(ns, prompt, model, kwargs)

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, _Progress(f"generating with {model}", sys.stderr):
        warnings.simplefilter("always")
        response = image_generation(prompt, model, **kwargs)
    elapsed = time.perf_counter() - started
    for warning in caught:
        _say(f"{PROG}: warning: {_one_line(str(warning.message))}")

    if ns.json:
        sys.stdout.write(response.to_json(indent=2) + "\n")
        sys.stdout.flush()
    if not ns.json or ns.output is not None:
        timeout = float(ns.timeout) if ns.timeout else 60.0
        with _Progress("saving images", sys.stderr):
            paths = save_images(response, Path(ns.output or "."), ns.name or slug(prompt), timeout=timeout)
        for path in paths:
            print(path, file=sys.stderr if ns.json else sys.stdout, flush=True)
    for image in response.data:
        if image.revised_prompt and image.revised_prompt != prompt:
            _say(f"revised prompt: {_one_line(image.revised_prompt)}")
    _say(summary(response, model=model, elapsed=elapsed))
    return EXIT_OK


def _generate_stream(ns: argparse.Namespace, prompt: str, model: str, kwargs: dict[str, Any]) -> int:
    """``generate --stream``: previews written (and named) as they arrive, then the final images."""
    from pixmux._api import image_generation

    return write_stream(
        ns, lambda: image_generation(prompt, model, stream=True, **kwargs), ns.name or slug(prompt), model
    )


def write_stream(ns: argparse.Namespace, call: Callable[[], Iterable[ImageStreamEvent]], stem: str, model: str) -> int:
    """
    ``--stream`` for ``generate`` and ``edit``: each event of ``call()`` written (and named) as it
    arrives, previews then final images; with ``--json`` each event printed as a JSON line.
    """
    from pixmux.types import image_extension

    folder = Path(ns.output or ".")
    started = time.perf_counter()
    last = None
    count = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for event in call():
            if ns.json:
                sys.stdout.write(event.to_json() + "\n")
                sys.stdout.flush()
                if ns.output is None:
                    continue
            data = event.image().bytes()
            folder.mkdir(parents=True, exist_ok=True)
            if event.completed:
                count += 1
                last = event
                target = folder / f"{stem}-{count}.{image_extension(data)}"
            else:
                target = folder / f"{stem}-{count + 1}.partial-{event.partial_image_index or 0}.{image_extension(data)}"
            target.write_bytes(data)
            print(target, file=sys.stderr if ns.json else sys.stdout, flush=True)
    for warning in caught:
        _say(f"{PROG}: warning: {_one_line(str(warning.message))}")
    elapsed = time.perf_counter() - started
    parts = [model, f"{count} image{'s' if count != 1 else ''}", f"{elapsed:.1f}s"]
    if last is not None and last.cost is not None:
        parts.append(f"cost {money(last.cost)}")
    _say("  ".join(parts))
    return EXIT_OK


def slug(prompt: str, *, limit: int = 48) -> str:
    """A file-name stem from a prompt: lower-case words joined by ``-``, at most ``limit`` characters."""
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "image")


def save_images(response: ImageResponse, folder: Path, stem: str, *, timeout: float = 60.0) -> list[Path]:
    """
    Write each image as ``folder/STEM-<k>.<ext>`` with the extension its bytes call for.

    ``k`` counts up from 1, skipping numbers already taken by any file ``STEM-<k>.*``, so a
    second run never overwrites the first.
    """
    from pixmux.types import image_extension

    folder.mkdir(parents=True, exist_ok=True)
    taken = {path.stem for path in folder.glob(f"{_glob_escape(stem)}-*")}
    paths: list[Path] = []
    number = 1
    for image in response.data:
        data = image.bytes(timeout=timeout)
        extension = image_extension(data)
        while True:
            while f"{stem}-{number}" in taken:
                number += 1
            target = folder / f"{stem}-{number}.{extension}"
            taken.add(target.stem)
            try:
                with target.open("xb") as handle:  # never overwrite, even if another process raced us
                    handle.write(data)
            except FileExistsError:
                continue
            break
        paths.append(target)
    return paths


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def summary(response: ImageResponse, *, model: str, elapsed: float) -> str:
    """The line printed after a generation: model, image count, time and cost (where known)."""
    provider = response.metadata.get("provider")
    name = response.metadata.get("model")
    shown = f"{provider}/{name}" if provider and name else model
    count = len(response.data)
    parts = [shown, f"{count} image{'s' if count != 1 else ''}", f"{elapsed:.1f}s"]
    if response.cost is not None:
        parts.append(f"cost {money(response.cost)}")
    return "  ".join(parts)


def money(usd: float) -> str:
    """US dollars with two to four decimals: ``$0.04``, ``$0.042``, ``$0.0105``."""
    text = f"{usd:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


# --------------------------------------------------------------------------- progress


class _Progress:
    """A spinner with an elapsed-seconds counter on a terminal; nothing at all when the stream is not one."""

    def __init__(self, label: str, stream: IO[str], *, interval: float = 0.1) -> None:
        self.label = label
        self.stream = stream
        self.interval = interval
        self.enabled = _isatty(stream)
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self.frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" if encoding == "utf8" else "|/-\\"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._tick = 0

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._started = time.monotonic()
            self._draw()  # the first frame at once, so even a fast call shows it
            self._thread = threading.Thread(target=self._run, name="pixmux-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._write("\r\x1b[K")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def _draw(self) -> None:
        frame = self.frames[self._tick % len(self.frames)]
        self._tick += 1
        self._write(f"\r{frame} {self.label} {time.monotonic() - self._started:.1f}s\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away; progress is not worth an error
            self.enabled = False


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- providers and models


def _providers(ns: argparse.Namespace) -> int:
    from pixmux._engine import Engine
    from pixmux.exceptions import PixmuxError

    registry = Engine().registry
    available = registry.available()
    listing: list[dict[str, Any]] = []
    failed = False
    for name in sorted(available):
        found = available[name]
        entry: dict[str, Any] = {"provider": name, "distribution": found.distribution, "version": found.version}
        try:
            catalogue = registry.get(name).catalogue
        except PixmuxError as exc:
            failed = True
            entry["error"] = _one_line(exc.message)
        else:
            entry.update(_catalogue_dict(catalogue))
        listing.append(entry)
    if ns.json:
        print(json.dumps(listing, indent=2))
        return EXIT_FAILED if failed else EXIT_OK
    if not listing:
        print(
            "no provider plugins are installed; install one, for example: pip install pixmux-openai "
            "(from a checkout of pixmux: pip install ./plugins/openai, or uv sync --all-packages)"
        )
        return EXIT_OK
    for index, entry in enumerate(listing):
        if index:
            print()
        dist = " ".join(str(part) for part in (entry["distribution"], entry["version"]) if part)
        print(f"{entry['provider']}  ({dist})" if dist else entry["provider"])
        if "error" in entry:
            print(f"  error: {entry['error']}")
            continue
        if entry.get("default_api_base"):
            print(f"  endpoint: {entry['default_api_base']}")
        rows = [
            (
                model["name"] + (" (retired)" if model.get("retired") else ""),
                "sizes: " + _values(model["sizes"]),
                "qualities: " + _values(model["qualities"]),
            )
            for model in entry["models"]
        ]
        _table(rows, indent="  ")
    return EXIT_FAILED if failed else EXIT_OK


def _models(ns: argparse.Namespace) -> int:
    from pixmux._engine import Engine

    registry = Engine().registry
    provider = registry.get(ns.provider)
    described = _catalogue_dict(provider.catalogue)
    if ns.json:
        print(json.dumps(described["models"], indent=2))
        return EXIT_OK
    dist = " ".join(str(part) for part in (provider.distribution, provider.version) if part)
    print(f"{provider.name}  ({dist})" if dist else provider.name)
    if described.get("default_api_base"):
        print(f"endpoint: {described['default_api_base']}")
    for field, names in described["env"].items():
        print(f"{field}: {', '.join(names)}")
    if not described["models"]:
        print("this provider lists no models; any model name is forwarded as given")
    for info, model in zip(provider.catalogue.models.values(), described["models"], strict=True):
        print()
        title = model["name"] + (f"  {model['description']}" if model.get("description") else "")
        print(title)
        rows = [
            ("retired:", model["retired"]) if model.get("retired") else None,
            ("sizes:", _values(model["sizes"])),
            ("qualities:", _values(model["qualities"])),
            ("styles:", _values(model["styles"])),
            ("response formats:", _values(model["response_formats"])),
            ("n:", f"1 to {model['max_n']}" if model["max_n"] is not None else "any"),
            ("prompt:", f"up to {model['max_prompt_chars']} characters") if model["max_prompt_chars"] else None,
            ("parameters:", _params_text(info)),
            ("operations:", ", ".join(model["operations"])),
            ("inputs:", _cli_edits.inputs_text(info)) if info.inputs is not None else None,
            ("price:", _price_text(info.pricing)) if info.pricing is not None else None,
        ]
        _table([row for row in rows if row is not None], indent="  ")
    return EXIT_OK


def _catalogue_dict(catalogue: Catalogue) -> dict[str, Any]:
    return {
        "default_api_base": catalogue.default_api_base,
        "env": {field: list(names) for field, names in catalogue.env.items()},
        "models": [_model_dict(info) for info in catalogue.models.values()],
    }


def _sorted(values: Iterable[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return sorted(values, key=_size_key)


def _size_key(value: Any) -> tuple[int, int, str]:
    text = str(value)
    width, sep, height = text.partition("x")
    if sep and width.isdigit() and height.isdigit():
        return (1, int(width) * int(height), text)
    return (0, 0, text)


def _model_dict(info: ModelInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "description": info.description or None,
        "retired": info.retired,
        "sizes": _sorted(info.sizes),
        "qualities": _sorted(info.qualities),
        "styles": _sorted(info.styles),
        "response_formats": _sorted(info.response_formats),
        "max_n": info.max_n,
        "max_prompt_chars": info.max_prompt_chars,
        "params": _sorted(info.params),
        "param_values": {name: _sorted(values) for name, values in info.param_values.items()},
        "param_ranges": {name: list(bounds) for name, bounds in info.param_ranges.items()},
        "pricing": _pricing_dict(info.pricing),
        **_cli_edits.model_facts(info),
    }


def _pricing_dict(pricing: Pricing | None) -> dict[str, Any] | None:
    if pricing is None:
        return None
    return {
        "per_image": [
            {k: v for k, v in (("usd", p.usd), ("size", p.size), ("quality", p.quality)) if v is not None}
            for p in pricing.per_image
        ],
        "input_token": pricing.input_token,
        "output_token": pricing.output_token,
    }


def _values(values: Sequence[Any] | None) -> str:
    if values is None:
        return "any"
    if not values:
        return "none"
    return ", ".join(str(value) for value in values)


def _params_text(info: ModelInfo) -> str:
    if info.params is None and not info.param_values and not info.param_ranges:
        return "any (forwarded as given)"
    names = set(info.params or ()) | set(info.param_values) | set(info.param_ranges)
    if not names:
        return "none"
    described = []
    for name in sorted(names):
        if name in info.param_values:
            described.append(f"{name} ({_values(_sorted(info.param_values[name]))})")
        elif name in info.param_ranges:
            low, high = info.param_ranges[name]
            described.append(f"{name} ({_plain_number(low)} to {_plain_number(high)})")
        else:
            described.append(name)
    return ", ".join(described)


def _plain_number(value: float) -> str:
    """``4294967295`` rather than ``4.29497e+09``; ``0.5`` as it is."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _price_text(pricing: Pricing) -> str:
    parts = []
    if pricing.input_token is not None and pricing.output_token is not None:
        per_million_in = money(pricing.input_token * 1e6)
        per_million_out = money(pricing.output_token * 1e6)
        parts.append(f"{per_million_in} / 1M input tokens, {per_million_out} / 1M output tokens")
        if pricing.input_image_token is not None:
            parts.append(f"{money(pricing.input_image_token * 1e6)} / 1M input image tokens (edits)")
    if pricing.per_image:
        rules = []
        for rule in pricing.per_image:
            where = " ".join(part for part in (rule.size, rule.quality) if part)
            rules.append(f"{where} {money(rule.usd)}" if where else money(rule.usd))
        parts.append("per image: " + ", ".join(rules))
    return "; ".join(parts) or "unknown"


def _table(rows: Sequence[Sequence[str]], *, indent: str = "") -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows if len(row) > i) for i in range(max(len(row) for row in rows))]
    for row in rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        print((indent + "  ".join(cells)).rstrip())


# --------------------------------------------------------------------------- gateway


def _serve(argv: list[str]) -> int:
    """Hand the command line to the gateway's own CLI (``pixmux.proxy.cli.main``), imported only now."""
    import importlib

    try:
        run: Callable[[list[str]], int | None] = importlib.import_module("pixmux.proxy.cli").main
        return int(run(argv) or 0)
    except ImportError as exc:
        missing = exc.name or ""
        if missing in ("pixmux.proxy", "pixmux.proxy.cli"):
            _say(
                f"{PROG}: error: this pixmux installation has no gateway ({missing} is missing); "
                'install it with: pip install -U "pixmux[proxy]" '
                '(from a checkout of pixmux: pip install "./core[proxy]", or uv sync --all-packages)'
            )
            return EXIT_FAILED
        if missing and not missing.startswith("pixmux"):
            _say(
                f"{PROG}: error: the gateway needs the proxy extra ({missing} is not installed): "
                'pip install "pixmux[proxy]" (from a checkout of pixmux: pip install "./core[proxy]", '
                "or uv sync --all-packages)"
            )
            return EXIT_FAILED
        raise


def _accounting(argv: list[str]) -> int:
    """``pixmux keys|spend|db ...``: the gateway's key and spend commands (``pixmux.proxy.store.cli``)."""
    try:
        from pixmux.proxy.store.cli import main as run
    except ImportError as exc:
        _say(f'{PROG}: error: keys and spend need the db and proxy extras ({exc.name}): pip install "pixmux[proxy,db]"')
        return EXIT_FAILED
    return run(argv)


# --------------------------------------------------------------------------- output helpers


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr is gone; nothing left to tell
        print(text, file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
