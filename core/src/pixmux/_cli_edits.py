"""
The ``pixmux edit`` and ``pixmux variation`` commands; their options come from the parameter table.

``pixmux edit room.png [more.png ...] --mask mask.png "put a sofa by the window" -m gpt-image-1 -o out/``
``pixmux variation otter.png -m dall-e-2 -n 2 -o out/``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixmux import _params
from pixmux.exceptions import is_secret_name

if TYPE_CHECKING:
    from pixmux.catalogue import ModelInfo

__all__ = ["add_commands", "run", "model_facts", "inputs_text"]

_TYPES: dict[str, Any] = {"integer": int, "number": float, "string": str}


def _add_table_options(parser: argparse.ArgumentParser, operation: str) -> None:
    for param in _params.PARAMS:
        if param.cli is None or operation not in param.operations or param.name == "mask":
            continue
        flags = ["-m", param.cli] if param.name == "model" else ["-n", param.cli] if param.name == "n" else [param.cli]
        dest = "provider" if param.cli == "--provider" else param.cli.lstrip("-").replace("-", "_")
        if param.kind == "boolean" or param.name == "mock_response":
            parser.add_argument(*flags, dest=dest, action="store_true", help=param.doc)
        else:
            parser.add_argument(
                *flags, dest=dest, type=_TYPES[param.kind], choices=param.enum, default=None, help=param.doc
            )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="provider-specific parameter, repeatable",
    )
    parser.add_argument("-o", "--output", metavar="DIR", help="directory to write images in (default: .)")
    parser.add_argument("--name", metavar="STEM", help="file name stem (default: from the prompt or the image)")
    parser.add_argument("--json", action="store_true", help="print the OpenAI-shaped response JSON instead of paths")


def add_commands(commands: Any, debug: argparse.ArgumentParser) -> None:
    """Add ``edit`` and ``variation`` to the ``pixmux`` command's subparsers."""
    edit = commands.add_parser(
        "edit",
        parents=[debug],
        help="edit images as a prompt says and save the results",
        description=(
            "Edit one or more images (paths; '-' reads one from stdin) as the prompt says, optionally "
            "within a mask, and write each result to a file. Paths go to stdout; model, time and cost to stderr."
        ),
    )
    edit.add_argument("image", nargs="+", help="input image file(s): PNG, JPEG or WebP (up to 16 for GPT image models)")
    edit.add_argument("prompt", help="what to change ('-' reads the prompt from stdin)")
    edit.add_argument("--mask", help="mask image: where to edit (OpenAI: a PNG whose transparent pixels mark the area)")
    _add_table_options(edit, "edit")
    _add_output_options(edit)

    variation = commands.add_parser(
        "variation",
        parents=[debug],
        help="make variations of an image and save them",
        description="Make variations of one image (no prompt) with a model that makes them (dall-e-2, openai/<name>).",
    )
    variation.add_argument("image", help="the input image file")
    _add_table_options(variation, "variation")
    _add_output_options(variation)


def run(ns: argparse.Namespace, secrets: list[str]) -> int:
    """Run ``pixmux edit`` or ``pixmux variation``."""
    from pixmux._api import image_edit, image_variation
    from pixmux._cli import (
        EXIT_OK,
        PROG,
        UsageError,
        _one_line,
        _parse_params,
        _Progress,
        _read_prompt,
        _say,
        save_images,
        slug,
        summary,
        write_stream,
    )
    from pixmux._engine import DEFAULT_MODEL

    if ns.api_key:
        secrets.append(ns.api_key)
    params = _parse_params(ns.param, ns)
    secrets.extend(str(value) for key, value in params.items() if value and is_secret_name(key))
    operation = "edit" if ns.command == "edit" else "variation"
    options: dict[str, Any] = {}
    for param in _params.PARAMS:
        if param.cli is None or operation not in param.operations or param.name in ("model", "mask"):
            continue
        value = getattr(ns, "provider" if param.cli == "--provider" else param.cli.lstrip("-").replace("-", "_"))
        if value not in (None, False):
            options[param.name] = value
    options.update(params)
    sources = [
        sys.stdin.buffer if item == "-" else Path(item)
        for item in ([ns.image] if operation == "variation" else ns.image)
    ]
    if sum(1 for item in sources if item is sys.stdin.buffer) > 1:
        raise UsageError(f"{PROG} {operation}: only one image can come from stdin")

    if options.pop("stream", False):  # only edit has --stream: previews written as they arrive
        prompt = _read_prompt(ns.prompt)
        model = ns.model or DEFAULT_MODEL
        return write_stream(
            ns,
            lambda: image_edit(sources, prompt, model, mask=ns.mask, stream=True, **options),
            ns.name or slug(prompt),
            model,
        )
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if operation == "edit":
            prompt = _read_prompt(ns.prompt)
            model = ns.model or DEFAULT_MODEL
            with _Progress(f"editing with {model}", sys.stderr):
                response = image_edit(sources, prompt, model, mask=ns.mask, **options)
            stem = ns.name or slug(prompt)
        else:
            model = ns.model or "dall-e-2"
            with _Progress(f"making variations with {model}", sys.stderr):
                response = image_variation(sources[0], model, **options)
            stem = ns.name or (slug(Path(ns.image).stem) if ns.image != "-" else "variation")
    elapsed = time.perf_counter() - started
    for warning in caught:
        _say(f"{PROG}: warning: {_one_line(str(warning.message))}")
    if ns.json:
        sys.stdout.write(response.to_json(indent=2) + "\n")
        sys.stdout.flush()
    if not ns.json or ns.output is not None:
        timeout = float(ns.timeout) if ns.timeout else 60.0
        with _Progress("saving images", sys.stderr):
            paths = save_images(response, Path(ns.output or "."), stem, timeout=timeout)
        for path in paths:
            print(path, file=sys.stderr if ns.json else sys.stdout, flush=True)
    _say(summary(response, model=model, elapsed=elapsed))
    return EXIT_OK


def model_facts(info: ModelInfo) -> dict[str, Any]:
    """What ``pixmux models --json`` says about a model's operations and input limits."""
    limits = info.inputs
    inputs = None
    if limits is not None:
        inputs = {
            "max_images": limits.max_images,
            "max_bytes": limits.max_bytes,
            "media_types": sorted(limits.media_types) if limits.media_types is not None else None,
            "mask": limits.mask,
            "mask_same_size": limits.mask_same_size,
            "mask_alpha": limits.mask_alpha,
        }
    return {"operations": [op for op in _params.OPERATIONS if op in info.operations], "inputs": inputs}


def inputs_text(info: ModelInfo) -> str:
    """One line for ``pixmux models``: how many images, which formats, how large, what mask."""
    limits = info.inputs
    if limits is None:
        return "not checked"
    parts = []
    if limits.max_images is not None:
        parts.append(f"up to {limits.max_images} image{'s' if limits.max_images > 1 else ''}")
    if limits.media_types is not None:
        parts.append("/".join(sorted(kind.removeprefix("image/") for kind in limits.media_types)))
    if limits.max_bytes is not None:
        parts.append(f"under {limits.max_bytes / 2**20:g} MB")
    mask = {"required": "mask required", "optional": "mask optional", "none": "no mask"}.get(limits.mask, limits.mask)
    if limits.mask != "none" and (limits.mask_same_size or limits.mask_alpha):
        rules = [rule for rule, on in (("same size", limits.mask_same_size), ("alpha", limits.mask_alpha)) if on]
        mask += f" ({', '.join(rules)})"
    parts.append(mask)
    return ", ".join(parts)
