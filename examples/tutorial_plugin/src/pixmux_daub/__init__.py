"""
pixmux provider for the Daub Images API: submit a job, poll it, read the images.

Model strings: ``daub/daub-2``, ``daub/daub-2-turbo``. Credentials: ``DAUB_API_KEY``
(or ``api_key=``); endpoint: ``DAUB_API_BASE`` (or ``api_base=``).
"""

from __future__ import annotations

import attrs
import cattrs
import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, Price, Pricing, check_request, parse_size
from pixmux.converters import describe_error, make_converter
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    InternalServerError,
    UnsupportedParamsError,
    error_from_response,
)
from pixmux.types import Deployment, FollowUp, ImageObject, ImageRequest, ImageResponse

PROVIDER = "daub"
DEFAULT_API_BASE = "https://api.daub.example/v1"
MAX_SEED = 2**32 - 1
_SIZES = frozenset({"512x512", "768x768", "1024x1024", "1024x768", "768x1024"})

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={
        "daub-2": ModelInfo(
            name="daub-2",
            sizes=_SIZES,
            qualities=frozenset(),
            styles=frozenset(),
            response_formats=frozenset({"b64_json"}),
            max_n=4,
            max_prompt_chars=2000,
            params=frozenset({"seed", "negative_prompt"}),
            param_ranges={"seed": (0, MAX_SEED)},
            pricing=Pricing(
                per_image=(Price(usd=0.02, size="1024x1024"), Price(usd=0.01)),
                default_size="1024x1024",
            ),
            description="Daub 2: the full model, up to 4 images a call",
            extra={"default_size": "1024x1024"},
        ),
        "daub-2-turbo": ModelInfo(
            name="daub-2-turbo",
            sizes=frozenset({"512x512", "768x768"}),
            qualities=frozenset(),
            styles=frozenset(),
            response_formats=frozenset({"b64_json"}),
            max_n=1,
            max_prompt_chars=500,
            params=frozenset({"seed"}),
            param_ranges={"seed": (0, MAX_SEED)},
            pricing=Pricing(per_image=(Price(usd=0.004),), default_size="512x512"),
            description="Daub 2 Turbo: one small image, fast",
            extra={"default_size": "512x512"},
        ),
    },
    env={"api_key": ("DAUB_API_KEY",), "api_base": ("DAUB_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
)


@hookimpl
def model_catalogue() -> Catalogue:
    """Daub's models: what each accepts and what each costs."""
    return CATALOGUE


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check the request against the catalogue, then the rule it cannot express: a seed is a whole number."""
    check_request(request, model, provider=PROVIDER)
    seed = request.params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UnsupportedParamsError(
            f"seed={seed!r} must be a whole number; accepted: 0 to {MAX_SEED}",
            provider=PROVIDER,
            model=model.name,
            param="seed",
        )


def _headers(deployment: Deployment) -> dict[str, str]:
    if not deployment.api_key:
        raise AuthenticationError(
            "no Daub API key: set DAUB_API_KEY or pass api_key=", provider=PROVIDER, model=deployment.model
        )
    return {"X-Daub-Key": deployment.api_key}


def _api_base(deployment: Deployment) -> str:
    return (deployment.api_base or DEFAULT_API_BASE).rstrip("/")


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """Submit a job: the size becomes ``width`` and ``height``, ``n`` becomes ``images``."""
    size = request.size or model.extra.get("default_size", "1024x1024")
    width, height = parse_size(size, provider=PROVIDER, model=request.model)
    body = {
        "model": deployment.model,
        "prompt": request.prompt,
        "width": width,
        "height": height,
        "images": request.n or 1,
        **request.params,
    }
    return httpx.Request("POST", f"{_api_base(deployment)}/jobs", headers=_headers(deployment), json=body)


@attrs.frozen
class _Image:
    png: str


@attrs.frozen
class _Problem:
    code: str = ""
    message: str = ""


@attrs.frozen
class _Job:
    id: str
    status: str
    created_at: int = 0
    poll_after: float = 1.0
    images: list[_Image] = attrs.field(factory=list)
    error: _Problem | None = None


_converter = make_converter()


def _read_job(response: httpx.Response, model: str) -> _Job:
    try:
        return _converter.structure(response.json(), _Job)
    except ValueError as exc:
        raise APIResponseValidationError(
            f"Daub answered with something that is not JSON: {exc}", provider=PROVIDER, model=model, response=response
        ) from exc
    except (cattrs.BaseValidationError, TypeError, AttributeError) as exc:
        raise APIResponseValidationError(
            f"Daub's job is not in the expected shape: {describe_error(exc)}",
            provider=PROVIDER,
            model=model,
            response=response,
        ) from exc


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, deployment: Deployment) -> ImageResponse | FollowUp:
    """Poll the job until it is done, then return its images; raise the typed error for a failure or a refusal."""
    if response.is_error:
        raise error_from_response(response, provider=PROVIDER, model=request.model)
    job = _read_job(response, request.model)
    if job.status in ("queued", "running"):
        poll = httpx.Request("GET", f"{_api_base(deployment)}/jobs/{job.id}", headers=_headers(deployment))
        return FollowUp(request=poll, after=job.poll_after)
    problem = job.error or _Problem()
    if job.status == "blocked":
        raise ContentPolicyViolationError(
            problem.message or "Daub refused the prompt",
            provider=PROVIDER,
            model=request.model,
            code=problem.code or None,
            response=response,
        )
    if job.status != "done":
        raise InternalServerError(
            f"Daub job {job.id} ended {job.status!r}: {problem.message or 'no reason given'}",
            provider=PROVIDER,
            model=request.model,
            code=problem.code or None,
            response=response,
        )
    if not job.images:
        raise APIResponseValidationError(
            f"Daub job {job.id} is done but holds no image", provider=PROVIDER, model=request.model, response=response
        )
    return ImageResponse(created=job.created_at, data=tuple(ImageObject(b64_json=image.png) for image in job.images))
