"""Runway's text_to_image models: ratios, reference images and prices, as data (sources in the provider docs page)."""

from __future__ import annotations

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo

PROVIDER = "runway"
DEFAULT_API_BASE = "https://api.dev.runwayml.com"
#: The ``X-Runway-Version`` every request carries (the official SDK's default in 2026); ``api_version`` overrides it.
API_VERSION = "2024-11-06"
#: Runway bills in credits; one credit is US$0.01.
USD_PER_CREDIT = 0.01

#: Gen-4's output sizes (``W:H`` in pixels); the 720-class ones are the 720p tier.
GEN4_RATIOS = (
    "1920:1080", "1080:1920", "1024:1024", "1360:768", "1080:1080", "1168:880", "1440:1080", "1080:1440",
    "1808:768", "2112:912", "1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720",
)  # fmt: skip
TIER_720P = frozenset({"1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720"})
_MEDIA = frozenset({"image/png", "image/jpeg", "image/webp"})
#: Runway takes data URIs up to 5 MB; base64 makes bytes 4/3 larger.
_MAX_BYTES = 5 * 1024 * 1024 * 3 // 4
_GEN4_PARAMS = frozenset({"ratio", "seed", "contentModeration", "reference_tags"})


def _gen4(name: str, *, turbo: bool) -> ModelInfo:
    return ModelInfo(
        name=name,
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=4,
        max_prompt_chars=1000,
        params=_GEN4_PARAMS,
        param_values={"ratio": frozenset(GEN4_RATIOS)},
        description=(
            "Gen-4 Image Turbo: fast, needs 1-3 reference images" if turbo else "Gen-4 Image: up to 3 reference images"
        ),
        operations=frozenset({"edit"}) if turbo else frozenset({"generate", "edit"}),
        inputs=InputLimits(max_images=3, max_bytes=_MAX_BYTES, media_types=_MEDIA, mask="none"),
        # Runway's published credits (runwayml/skills): gen4_image 5 at 720p, 8 at 1080p; turbo 2 at any size.
        extra={"ratios": GEN4_RATIOS, "credits_720p": 2 if turbo else 5, "credits_1080p": 2 if turbo else 8},
    )


MODELS: tuple[ModelInfo, ...] = (
    _gen4("gen4_image", turbo=False),
    _gen4("gen4_image_turbo", turbo=True),
    ModelInfo(
        name="gemini_2.5_flash",
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=4,
        params=frozenset({"ratio", "reference_tags"}),
        description="Gemini 2.5 Flash Image through Runway: up to 3 reference images",
        operations=frozenset({"generate", "edit"}),
        inputs=InputLimits(max_images=3, max_bytes=_MAX_BYTES, media_types=_MEDIA, mask="none"),
        extra={"ratios": (), "credits_720p": 5, "credits_1080p": 5},
    ),
    ModelInfo(
        name="gpt_image_2",
        qualities=frozenset({"low", "medium", "high", "auto"}),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        max_prompt_chars=32000,
        params=frozenset({"ratio", "background", "reference_tags"}),
        param_values={"background": frozenset({"opaque", "auto"})},
        description="GPT Image 2 through Runway: up to 10 images a task, 16 reference images",
        operations=frozenset({"generate", "edit"}),
        inputs=InputLimits(max_images=16, max_bytes=_MAX_BYTES, media_types=_MEDIA, mask="none"),
        extra={"ratios": (), "count_field": "outputCount"},
    ),
)


def _unknown(name: str) -> ModelInfo:
    # A model Runway added since: forwarded as given, size as "W:H", n as one task per image.
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        operations=frozenset({"generate", "edit"}),
        extra={"ratios": ()},
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in MODELS},
    env={
        "api_key": ("RUNWAYML_API_SECRET", "RUNWAYML_API_KEY", "RUNWAY_API_KEY"),
        "api_base": ("RUNWAYML_BASE_URL",),
    },
    settings=frozenset({"poll_interval"}),
    default_api_base=DEFAULT_API_BASE,
    unknown=_unknown,
)
