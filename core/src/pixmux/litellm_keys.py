"""
Every key of LiteLLM's documented proxy config, and what pixmux does with each: one table.

The gateway's loader (:mod:`pixmux.proxy.config`) reads a config through this table, the
engine keeps every deployment setting it names out of provider bodies, and the docs page
``docs/litellm-compatibility.md`` is generated from it (``python -m pixmux.litellm_keys``),
so the three cannot drift. Each key is one of three kinds:

- ``honoured``: pixmux does what LiteLLM does with it (``how`` says how, where it differs);
- ``ignored``: accepted, with one start-up line (``how`` is that line): integrations pixmux
  does not have, or keys that do not apply to images;
- ``refused``: the config does not start (``how`` gives the reason and what to do), only where
  ignoring the key would silently weaken security or spend control.

A key that is neither LiteLLM's nor pixmux's is refused with a "did you mean". To add a key,
add one line to :data:`KEYS` (and run ``python -m pixmux.litellm_keys`` to regenerate the docs).

Sources: LiteLLM's proxy docs ("All settings": ``litellm_settings``, ``general_settings``,
``router_settings`` references), its ``GenericLiteLLMParams`` (``litellm_params``), ``ModelInfo``
and ``CredentialItem`` types.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

__all__ = [
    "Key",
    "KEYS",
    "SECTIONS",
    "HONOURED",
    "IGNORED",
    "REFUSED",
    "lookup",
    "section_keys",
    "did_you_mean",
    "DEPLOYMENT_SETTINGS",
    "render_markdown",
]

Kind = Literal["honoured", "ignored", "refused"]
HONOURED: Kind = "honoured"
IGNORED: Kind = "ignored"
REFUSED: Kind = "refused"

#: The config's sections, in the order the docs list them.
SECTIONS = (
    "top",
    "model_list",
    "litellm_params",
    "model_info",
    "litellm_settings",
    "router_settings",
    "general_settings",
    "environment_variables",
    "credential_list",
)


@attrs.frozen(kw_only=True)
class Key:
    """
    One config key.

    Attributes:
        section: where it is written (``litellm_params``, ``router_settings``, ...).
        name: the key.
        kind: ``honoured``, ``ignored`` or ``refused``.
        meaning: what it means in LiteLLM (or in pixmux, for pixmux's own keys).
        how: for ``honoured``, how pixmux honours it; for ``ignored``, the start-up line; for
            ``refused``, the reason and what to do.
        origin: ``litellm`` or ``pixmux`` (a key LiteLLM does not have).
        pending: for a key honoured by work that is still landing, the start-up line printed
            until it does (say what happens meanwhile).
    """

    section: str
    name: str
    kind: Kind
    meaning: str
    how: str = ""
    origin: Literal["litellm", "pixmux"] = "litellm"
    pending: str | None = None


def _h(section: str, name: str, meaning: str, how: str = "", *, pending: str | None = None) -> Key:
    return Key(section=section, name=name, kind=HONOURED, meaning=meaning, how=how, pending=pending)


def _p(section: str, name: str, meaning: str, how: str = "", *, pending: str | None = None) -> Key:
    return Key(section=section, name=name, kind=HONOURED, meaning=meaning, how=how, origin="pixmux", pending=pending)


def _i(section: str, name: str, meaning: str, line: str) -> Key:
    return Key(section=section, name=name, kind=IGNORED, meaning=meaning, how=line)


def _r(section: str, name: str, meaning: str, why: str) -> Key:
    return Key(section=section, name=name, kind=REFUSED, meaning=meaning, how=why)


_REDIS_HOW = (
    "rpm windows, cooldowns and usage are shared by every instance (calls in flight stay per process); "
    "see docs/deployment.md"
)
_CALLBACKS = "pixmux has no LiteLLM callbacks (Langfuse, Datadog, OpenTelemetry...); its logs go to stderr; ignored"
_IMAGES_ONLY = "does not apply to image generation; ignored"
_TOKENS = "image prices come from pixmux's catalogue or the per-image and per-pixel keys; ignored"
_NO_CACHE = "pixmux does not cache images (each prompt asks for new ones); ignored"

#: Every key pixmux knows, LiteLLM's and its own. One line per key.
KEYS: tuple[Key, ...] = (
    # ------------------------------------------------------------------ top level
    _h("top", "model_list", "The deployments: model names clients ask for and the calls behind them."),
    _h("top", "litellm_settings", "LiteLLM module settings (retries, timeouts, fallbacks, logging)."),
    _h("top", "router_settings", "The router's settings (strategy, retries, cooldowns, fallbacks)."),
    _h("top", "general_settings", "Server settings (master key, limits, database)."),
    _h(
        "top",
        "environment_variables",
        "Environment variables set at start.",
        "set before any `os.environ/` reference is resolved, and seen by providers that read the environment",
    ),
    _h(
        "top",
        "credential_list",
        "Named credentials that deployments use through `litellm_credential_name`.",
        "each entry's `credential_values` are merged into the deployments that name it (their own values win)",
    ),
    _i("top", "callback_settings", "Per-callback settings (OpenTelemetry message logging).", _CALLBACKS),
    _i("top", "assistant_settings", "Settings of the Assistants API.", _IMAGES_ONLY),
    _i("top", "files_settings", "Settings of the Files API.", _IMAGES_ONLY),
    _i("top", "finetune_settings", "Settings of the fine-tuning API.", _IMAGES_ONLY),
    _i("top", "mcp_servers", "MCP servers the proxy exposes.", _IMAGES_ONLY),
    _i("top", "search_tools", "Search API tools.", _IMAGES_ONLY),
    _i("top", "vector_store_registry", "Vector stores.", _IMAGES_ONLY),
    _r(
        "top",
        "guardrails",
        "Guardrails run on each request (moderation, PII masking, prompt-injection checks).",
        "pixmux does not run LiteLLM guardrails, and starting without them would let through what they block; "
        "remove the section and put the checks in a pixmux extension plugin (a `validate_params` hookimpl)",
    ),
    _r(
        "top",
        "include",
        "Other YAML files merged into this one.",
        "pixmux reads one file, and starting without the included part could silently drop the master key, "
        "limits or fallbacks it holds; merge the included files into this one",
    ),
    # ------------------------------------------------------------------ model_list entries
    _h("model_list", "model_name", "The name clients send as `model`; several entries may share one."),
    _h("model_list", "litellm_params", "The call behind the name (also accepted as `params`)."),
    _p("model_list", "params", "pixmux's short name for `litellm_params`."),
    _h("model_list", "model_info", "Facts about the deployment: `id`, `base_model`, prices."),
    # ------------------------------------------------------------------ litellm_params
    _h("litellm_params", "model", "The model string, `provider/model` (`azure/gpt-image-1`)."),
    _h("litellm_params", "api_key", "The provider's API key (or `os.environ/NAME`)."),
    _h("litellm_params", "api_base", "The provider's endpoint (private endpoints, regional gateways, local servers)."),
    _h("litellm_params", "api_version", "The API version (Azure)."),
    _h("litellm_params", "organization", "The OpenAI organization id, sent as a header."),
    _h("litellm_params", "custom_llm_provider", "The provider, for a model string without one."),
    _h("litellm_params", "timeout", "Seconds one attempt on this deployment may take."),
    _h(
        "litellm_params",
        "stream_timeout",
        "Seconds one streamed attempt on this deployment may take.",
        "bounds attempts made with `stream: true`; other attempts keep `timeout`",
    ),
    _h("litellm_params", "max_retries", "Retries of one attempt on this deployment itself."),
    _h("litellm_params", "num_retries", "The same as `max_retries` on a deployment."),
    _h("litellm_params", "rpm", "Most requests (images, in pixmux) this deployment may take per minute."),
    _h(
        "litellm_params",
        "tpm",
        "Most tokens this deployment may take per minute.",
        "image calls carry no token count before the call, so pixmux counts one image as one token: "
        "`tpm` then bounds images per minute, like `rpm`",
    ),
    _h("litellm_params", "order", "Priority: lower is tried first, higher only when the lower ones are unavailable."),
    _h("litellm_params", "weight", "Share of traffic in the weighted shuffle."),
    _h("litellm_params", "max_parallel_requests", "Most calls in flight on this deployment at once."),
    _h("litellm_params", "drop_params", "Drop parameters the model does not take instead of refusing the request."),
    _h("litellm_params", "mock_response", "Answer without calling the provider (tests and demos)."),
    _h(
        "litellm_params",
        "litellm_credential_name",
        "A `credential_list` entry whose values this deployment uses.",
        "its `credential_values` are merged in; the deployment's own values win",
    ),
    _h(
        "litellm_params",
        "extra_headers",
        "Headers sent with every request to the provider.",
        "sent as headers, never in the body",
    ),
    _h(
        "litellm_params",
        "base_model",
        "The model behind an Azure deployment name, for validation and cost.",
        "as `model_info.base_model`",
    ),
    _h(
        "litellm_params",
        "region_name",
        "The provider's region (unified key).",
        "`aws_region_name` for Bedrock, `vertex_ai_location` for Vertex AI",
    ),
    _h("litellm_params", "vertex_project", "The Google Cloud project (Vertex AI)."),
    _h("litellm_params", "vertex_location", "The Vertex AI region."),
    _h("litellm_params", "vertex_ai_project", "The Google Cloud project (Vertex AI), LiteLLM's older name."),
    _h("litellm_params", "vertex_ai_location", "The Vertex AI region, LiteLLM's older name."),
    _h(
        "litellm_params",
        "vertex_credentials",
        "Google credentials: a file path, the file's JSON text, or `os.environ/NAME` holding either.",
    ),
    _h(
        "litellm_params",
        "vertex_ai_credentials",
        "LiteLLM's older name for `vertex_credentials`.",
        "read as `vertex_credentials`",
    ),
    _h("litellm_params", "aws_access_key_id", "AWS access key id (Bedrock)."),
    _h("litellm_params", "aws_secret_access_key", "AWS secret access key (Bedrock)."),
    _h("litellm_params", "aws_session_token", "AWS session token (Bedrock)."),
    _h("litellm_params", "aws_region_name", "AWS region (Bedrock)."),
    _h("litellm_params", "aws_profile_name", "A profile of the AWS config files (Bedrock)."),
    _h("litellm_params", "aws_role_name", "An IAM role ARN to assume through STS (Bedrock)."),
    _h("litellm_params", "aws_session_name", "The session name when assuming a role (Bedrock)."),
    _h("litellm_params", "aws_external_id", "The external id when assuming a role (Bedrock)."),
    _h("litellm_params", "aws_sts_endpoint", "The STS endpoint used to assume a role (Bedrock, private networks)."),
    _h(
        "litellm_params",
        "aws_web_identity_token",
        "An OIDC token exchanged for AWS credentials with `aws_role_name` (Bedrock on Kubernetes, CI).",
        "exchanged through STS `AssumeRoleWithWebIdentity` for `aws_role_name`",
    ),
    _h(
        "litellm_params",
        "aws_bedrock_runtime_endpoint",
        "The Bedrock runtime endpoint (VPC endpoints, proxies).",
        "read as `api_base`",
    ),
    _h("litellm_params", "azure_ad_token", "An Entra ID token for Azure OpenAI instead of an API key."),
    _r(
        "litellm_params",
        "tenant_id",
        "Entra ID tenant, for a client-secret sign-in to Azure.",
        "pixmux cannot sign in to Entra ID with a client secret yet, and without it the deployment would "
        "silently call Azure as whatever identity the environment holds (`AZURE_API_KEY`); get a token and "
        "pass `azure_ad_token`, or use `api_key`",
    ),
    _r(
        "litellm_params",
        "client_id",
        "Entra ID application id, for a client-secret sign-in to Azure.",
        "as for `tenant_id`: pass `azure_ad_token` or `api_key` instead",
    ),
    _r(
        "litellm_params",
        "client_secret",
        "Entra ID client secret, for a client-secret sign-in to Azure.",
        "as for `tenant_id`: pass `azure_ad_token` or `api_key` instead",
    ),
    _r(
        "litellm_params",
        "azure_username",
        "Entra ID user name, for a password sign-in to Azure.",
        "as for `tenant_id`: pass `azure_ad_token` or `api_key` instead",
    ),
    _r(
        "litellm_params",
        "azure_password",
        "Entra ID password, for a password sign-in to Azure.",
        "as for `tenant_id`: pass `azure_ad_token` or `api_key` instead",
    ),
    _i(
        "litellm_params",
        "azure_scope",
        "The Entra ID scope of a token LiteLLM fetches.",
        "pixmux uses `azure_ad_token` as given; ignored",
    ),
    _h(
        "litellm_params",
        "input_cost_per_image",
        "Price of each input image (LiteLLM mirrors it into `model_info`).",
        "as `model_info.input_cost_per_image`",
    ),
    _h(
        "litellm_params",
        "output_cost_per_image",
        "Price of each generated image.",
        "as `model_info.output_cost_per_image`",
    ),
    _h(
        "litellm_params",
        "input_cost_per_pixel",
        "Price per pixel of each generated image (LiteLLM's image-generation convention).",
        "as `model_info.input_cost_per_pixel`",
    ),
    _p(
        "litellm_params",
        "allow_image_urls",
        "Fetch `http(s)` image URLs of JSON edits for this deployment.",
        "as `model_info.allow_image_urls`; never sent to the provider",
    ),
    _h(
        "litellm_params",
        "output_cost_per_pixel",
        "Price per pixel of each generated image.",
        "as `model_info.output_cost_per_pixel`",
    ),
    _i("litellm_params", "input_cost_per_token", "Price per input token.", _TOKENS),
    _i("litellm_params", "output_cost_per_token", "Price per output token.", _TOKENS),
    _i("litellm_params", "input_cost_per_second", "Price per second of input.", _TOKENS),
    _i("litellm_params", "output_cost_per_second", "Price per second of output.", _TOKENS),
    _h("litellm_params", "model_info", "Model facts given inside `litellm_params`.", "merged into `model_info`"),
    _i(
        "litellm_params",
        "itpm",
        "Most input tokens per minute.",
        "image calls carry no token counts before the call; ignored",
    ),
    _i(
        "litellm_params",
        "otpm",
        "Most output tokens per minute.",
        "image calls carry no token counts before the call; ignored",
    ),
    _r(
        "litellm_params",
        "max_budget",
        "Most this deployment may spend per `budget_duration`.",
        "pixmux cannot enforce a deployment budget yet, and serving without it would overspend; remove it and "
        "bound spend with `rpm` (images per minute) and the provider's own budget alerts",
    ),
    _r(
        "litellm_params",
        "budget_duration",
        "The period of `max_budget`.",
        "as for `max_budget`: a deployment budget cannot be enforced yet",
    ),
    _r(
        "litellm_params",
        "default_api_key_tpm_limit",
        "Default tokens per minute for each API key using this deployment.",
        "per-key limits arrive with virtual keys; serving without them would leave keys unlimited. Use `rpm`",
    ),
    _r(
        "litellm_params",
        "default_api_key_rpm_limit",
        "Default requests per minute for each API key using this deployment.",
        "per-key limits arrive with virtual keys; serving without them would leave keys unlimited. Use `rpm`",
    ),
    _i(
        "litellm_params",
        "configurable_clientside_auth_params",
        "Credentials clients may set per request.",
        "clients never set credentials or endpoints on pixmux's gateway; ignored (stricter than LiteLLM)",
    ),
    _i(
        "litellm_params",
        "cooldown_time",
        "This deployment's own cooldown.",
        "the router's `cooldown_time` applies to every deployment; ignored",
    ),
    _i("litellm_params", "tags", "Tags for tag-based routing.", "pixmux has no tag-based routing; ignored"),
    _i(
        "litellm_params",
        "tag_regex",
        "Header patterns for tag-based routing.",
        "pixmux has no tag-based routing; ignored",
    ),
    _i("litellm_params", "litellm_trace_id", "A trace id for LiteLLM's logging.", _CALLBACKS),
    _i("litellm_params", "max_file_size_mb", "Largest file for the Files API.", _IMAGES_ONLY),
    _i(
        "litellm_params",
        "use_in_pass_through",
        "Serve this deployment on pass-through routes.",
        "pixmux has no pass-through routes; ignored",
    ),
    _i(
        "litellm_params",
        "use_litellm_proxy",
        "Send this deployment's calls through another LiteLLM proxy.",
        "pixmux calls the provider itself; ignored",
    ),
    _i("litellm_params", "use_chat_completions_api", "Bridge the Responses API to chat completions.", _IMAGES_ONLY),
    _i("litellm_params", "merge_reasoning_content_in_choices", "Merge reasoning text into chat answers.", _IMAGES_ONLY),
    _i(
        "litellm_params",
        "keepalive_seconds",
        "Heartbeats on long streams.",
        "pixmux streams send their own events; ignored",
    ),
    _i(
        "litellm_params",
        "allow_client_keepalive_override",
        "Let clients ask for heartbeats.",
        "pixmux streams send their own events; ignored",
    ),
    _i("litellm_params", "watsonx_region_name", "IBM watsonx region.", "pixmux has no watsonx provider; ignored"),
    _i("litellm_params", "gcs_bucket_name", "A bucket for the Files and Batches APIs.", _IMAGES_ONLY),
    _i("litellm_params", "s3_bucket_name", "A bucket for the Files and Batches APIs.", _IMAGES_ONLY),
    _i("litellm_params", "s3_region_name", "The region of `s3_bucket_name`.", _IMAGES_ONLY),
    _i("litellm_params", "s3_encryption_key_id", "The KMS key of `s3_bucket_name`.", _IMAGES_ONLY),
    _i("litellm_params", "aws_batch_role_arn", "A role for Bedrock batch jobs.", _IMAGES_ONLY),
    _i("litellm_params", "s3_output_bucket_name", "A bucket for Bedrock batch output.", _IMAGES_ONLY),
    _i(
        "litellm_params",
        "aws_bedrock_project_id",
        "A Bedrock project for Bedrock's own usage reports.",
        "pixmux does not tag Bedrock calls with a project; ignored",
    ),
    _i(
        "litellm_params",
        "bedrock_tags",
        "Tags for Bedrock's cost reports.",
        "pixmux does not tag Bedrock calls; ignored",
    ),
    _i(
        "litellm_params",
        "additional_drop_params",
        "Parameters always removed from the request.",
        "pixmux never sends a parameter the model does not take; ignored",
    ),
    # ------------------------------------------------------------------ model_info
    _h("model_info", "id", "The deployment's id (in headers, logs and health); default `<model_name>-<index>`."),
    _h("model_info", "base_model", "The model behind an Azure deployment name, for validation and cost."),
    _h(
        "model_info",
        "mode",
        "What the deployment does (`chat`, `embedding`, `image_generation`...).",
        "`image_generation`, `image_edit` or unset is served; an entry of another mode is skipped with a "
        "start-up line, so a LiteLLM config that also lists chat models starts",
    ),
    _h(
        "model_info",
        "input_cost_per_image",
        "Price of each input image (edits and variations).",
        "counted for each input image; shown in `x-pixmux-cost` and used by `cost-based-routing`",
    ),
    _h(
        "model_info",
        "output_cost_per_image",
        "Price of each generated image.",
        "replaces the catalogue's price for this deployment: cost, `x-pixmux-cost`, `cost-based-routing`",
    ),
    _p(
        "model_info",
        "allow_image_urls",
        "Fetch `http(s)` image URLs of JSON edits sent to this deployment's model name "
        "(default: `general_settings.allow_image_urls`).",
        "a URL is fetched once, before routing: only when every deployment of the model name allows it",
    ),
    _h(
        "model_info",
        "input_cost_per_pixel",
        "Price per pixel of each generated image (LiteLLM's convention for image models).",
        "width x height of each image, from the request's `size` (or the answer's)",
    ),
    _h(
        "model_info",
        "output_cost_per_pixel",
        "Price per pixel of each generated image.",
        "width x height of each image, from the request's `size` (or the answer's)",
    ),
    _i("model_info", "input_cost_per_token", "Price per input token.", _TOKENS),
    _i("model_info", "output_cost_per_token", "Price per output token.", _TOKENS),
    _i("model_info", "max_tokens", "The model's token limit.", _IMAGES_ONLY),
    _i("model_info", "max_input_tokens", "The model's input token limit.", _IMAGES_ONLY),
    _i("model_info", "max_output_tokens", "The model's output token limit.", _IMAGES_ONLY),
    _i("model_info", "tier", "`free` or `paid`, for LiteLLM's tier routing.", "pixmux has no tier routing; ignored"),
    _i(
        "model_info",
        "team_id",
        "The team this model belongs to.",
        "teams arrive with virtual keys; ignored (the model is served to every key)",
    ),
    _i(
        "model_info",
        "team_public_model_name",
        "The team's name for this model.",
        "teams arrive with virtual keys; ignored",
    ),
    _i(
        "model_info",
        "db_model",
        "Whether the model was stored in LiteLLM's database.",
        "pixmux reads models from the file only; ignored",
    ),
    # ------------------------------------------------------------------ litellm_settings
    _h(
        "litellm_settings",
        "num_retries",
        "Retries of a failed call (so `num_retries: 5` makes up to 6 attempts).",
        "the router's `num_retries` unless `router_settings` sets its own",
    ),
    _h(
        "litellm_settings",
        "request_timeout",
        "Seconds a call may take.",
        "each deployment's `timeout` unless it sets its own",
    ),
    _h(
        "litellm_settings",
        "drop_params",
        "Drop parameters a model does not take instead of refusing.",
        "each deployment's `drop_params` unless it sets its own",
    ),
    _h(
        "litellm_settings",
        "fallbacks",
        "Model groups to try when a group fails.",
        "the router's, unless `router_settings` sets its own",
    ),
    _h(
        "litellm_settings",
        "default_fallbacks",
        "Groups to fall back to from any group without its own.",
        "the router's, unless `router_settings` sets its own",
    ),
    _h(
        "litellm_settings",
        "content_policy_fallbacks",
        "Groups to try when a provider refuses the prompt.",
        "the router's, unless `router_settings` sets its own",
    ),
    _i("litellm_settings", "context_window_fallbacks", "Groups to try when a prompt is too long.", _IMAGES_ONLY),
    _h("litellm_settings", "json_logs", "Write log lines as JSON.", "each gateway log line is one JSON object"),
    _h(
        "litellm_settings",
        "set_verbose",
        "Debug logging (deprecated in LiteLLM).",
        "pixmux's loggers log at debug level",
    ),
    _i("litellm_settings", "success_callback", "Callbacks run after each success.", _CALLBACKS),
    _i("litellm_settings", "failure_callback", "Callbacks run after each failure.", _CALLBACKS),
    _i("litellm_settings", "callbacks", "Callbacks run after each call.", _CALLBACKS),
    _i("litellm_settings", "service_callbacks", "Callbacks for Redis and database failures.", _CALLBACKS),
    _i("litellm_settings", "service_callback", "The older name of `service_callbacks`.", _CALLBACKS),
    _i(
        "litellm_settings",
        "turn_off_message_logging",
        "Keep prompts out of callbacks.",
        "pixmux never logs prompts or images; ignored",
    ),
    _i(
        "litellm_settings",
        "redact_user_api_key_info",
        "Keep key details out of callbacks.",
        "pixmux never logs keys; ignored",
    ),
    _i("litellm_settings", "langfuse_default_tags", "Default Langfuse tags.", _CALLBACKS),
    _i(
        "litellm_settings",
        "modify_params",
        "Let LiteLLM reshape requests for a provider.",
        "pixmux's plugins translate every request; ignored",
    ),
    _i("litellm_settings", "enable_preview_features", "LiteLLM preview features.", "ignored"),
    _i(
        "litellm_settings",
        "force_ipv4",
        "Connect to providers over IPv4 only.",
        "pixmux connects as the system resolves; ignored",
    ),
    _i("litellm_settings", "cache", "Cache answers.", _NO_CACHE),
    _i("litellm_settings", "cache_params", "The cache's settings.", _NO_CACHE),
    _i(
        "litellm_settings",
        "disable_end_user_cost_tracking",
        "Stop tracking cost per end user.",
        "pixmux does not track cost per end user; ignored",
    ),
    _i(
        "litellm_settings",
        "disable_end_user_cost_tracking_prometheus_only",
        "Stop tracking cost per end user in metrics.",
        "pixmux does not track cost per end user; ignored",
    ),
    _r(
        "litellm_settings",
        "key_generation_settings",
        "Who may generate virtual keys.",
        "virtual keys arrive with the keys and spend work, and starting without this restriction would let any "
        "admin route generate keys once they do; remove it until then",
    ),
    _r(
        "litellm_settings",
        "max_budget",
        "Most the whole proxy may spend per `budget_duration`.",
        "pixmux cannot enforce a proxy budget yet, and serving without it would overspend; remove it and bound "
        "spend with per-deployment `rpm` and the providers' budget alerts",
    ),
    _r(
        "litellm_settings",
        "budget_duration",
        "The period of `max_budget`.",
        "as for `max_budget`: a proxy budget cannot be enforced yet",
    ),
    _r(
        "litellm_settings",
        "max_end_user_budget",
        "Most each end user (`user`) may spend.",
        "pixmux cannot enforce end-user budgets yet; remove it",
    ),
    _r(
        "litellm_settings",
        "upperbound_key_generate_params",
        "Upper bounds for generated keys' budgets and limits.",
        "virtual keys arrive with the keys and spend work; remove it until then",
    ),
    _r(
        "litellm_settings",
        "default_key_generate_params",
        "Defaults (budgets, models) for generated virtual keys.",
        "virtual keys arrive with the keys and spend work; remove it until then",
    ),
    _r(
        "litellm_settings",
        "max_internal_user_budget",
        "Most each internal user may spend.",
        "pixmux cannot enforce user budgets yet, and serving without it would overspend; remove it",
    ),
    _r(
        "litellm_settings",
        "internal_user_budget_duration",
        "The period of `max_internal_user_budget`.",
        "as for `max_internal_user_budget`",
    ),
    _i(
        "litellm_settings",
        "ssl_verify",
        "Whether to verify providers' TLS certificates.",
        "pixmux always verifies them (stricter); for a private CA set SSL_CERT_FILE; ignored",
    ),
    _i(
        "litellm_settings",
        "ssl_certificate",
        "A client certificate or CA bundle for provider calls.",
        "set SSL_CERT_FILE (a CA bundle) in the environment instead; ignored",
    ),
    _i(
        "litellm_settings",
        "return_response_headers",
        "Return the provider's headers to the client.",
        "pixmux returns its own `x-pixmux-*` headers; ignored",
    ),
    _i("litellm_settings", "s3_callback_params", "Settings of the S3 logging callback.", _CALLBACKS),
    _i("litellm_settings", "default_team_settings", "Per-team callback settings.", _CALLBACKS),
    _i("litellm_settings", "disable_hf_tokenizer_download", "Use OpenAI's tokenizer for every model.", _IMAGES_ONLY),
    _i("litellm_settings", "enable_json_schema_validation", "Check JSON-schema answers.", _IMAGES_ONLY),
    _i(
        "litellm_settings",
        "enable_key_alias_format_validation",
        "Check key aliases.",
        "virtual keys arrive with the keys and spend work; ignored",
    ),
    _i("litellm_settings", "disable_add_transform_inline_image_block", "A Fireworks AI chat setting.", _IMAGES_ONLY),
    _i(
        "litellm_settings",
        "use_chat_completions_url_for_anthropic_messages",
        "An Anthropic bridge setting.",
        _IMAGES_ONLY,
    ),
    _i(
        "litellm_settings",
        "disable_copilot_system_to_assistant",
        "A GitHub Copilot setting (deprecated).",
        _IMAGES_ONLY,
    ),
    _i("litellm_settings", "mcp_aliases", "Aliases of MCP servers.", _IMAGES_ONLY),
    _i("litellm_settings", "telemetry", "LiteLLM's usage telemetry.", "pixmux sends no telemetry; ignored"),
    # ------------------------------------------------------------------ router_settings
    _h(
        "router_settings",
        "routing_strategy",
        "How a deployment is chosen.",
        "`simple-shuffle`, `least-busy`, `latency-based-routing`, `usage-based-routing`(`-v2`) and "
        "`cost-based-routing` (the cheapest deployment for the request's size and quality, by `model_info` "
        "prices or pixmux's catalogue)",
    ),
    _h("router_settings", "routing_strategy_args", "The strategy's arguments (`lowest_latency_buffer`, `ttl`)."),
    _h("router_settings", "num_retries", "Retries of a failed call across the group."),
    _h("router_settings", "timeout", "Seconds a whole call may take, retries included."),
    _h(
        "router_settings",
        "stream_timeout",
        "Seconds a streamed attempt may take.",
        "each deployment's `stream_timeout` unless it sets its own",
    ),
    _h("router_settings", "fallbacks", "Model groups to try when a group fails."),
    _h("router_settings", "content_policy_fallbacks", "Model groups to try when a provider refuses the prompt."),
    _h("router_settings", "default_fallbacks", "Groups to fall back to from any group without its own."),
    _h("router_settings", "max_fallbacks", "Most fallback groups one call tries."),
    _h("router_settings", "cooldown_time", "Seconds a failing deployment is skipped."),
    _h("router_settings", "allowed_fails", "Failures a minute before a deployment cools down."),
    _h("router_settings", "allowed_fails_policy", "`allowed_fails` per error kind."),
    _h("router_settings", "disable_cooldowns", "Never cool a deployment down."),
    _h("router_settings", "retry_after", "Shortest wait before retrying a deployment."),
    _h("router_settings", "retry_policy", "`num_retries` per error kind."),
    _h("router_settings", "model_group_alias", "Other names clients may ask for."),
    _h("router_settings", "default_litellm_params", "Parameters every call gets unless it sets its own."),
    _h(
        "router_settings",
        "default_max_parallel_requests",
        "Most calls in flight per deployment, for deployments without `max_parallel_requests`.",
    ),
    _h(
        "router_settings",
        "enable_pre_call_checks",
        "Check each call against the deployment before sending it.",
        "always on in pixmux: each request is checked against every deployment behind its name (sizes, "
        "qualities, parameters) before the first byte is sent, and deployments over `rpm` or "
        "`max_parallel_requests` are skipped; `false` is accepted and changes nothing",
    ),
    _h(
        "router_settings",
        "enable_pre_call_check",
        "A spelling of `enable_pre_call_checks` LiteLLM's docs also use.",
        "as `enable_pre_call_checks`",
    ),
    _h("router_settings", "set_verbose", "Debug logging for the router.", "pixmux's loggers log at debug level"),
    _h(
        "router_settings",
        "debug_level",
        "`DEBUG` or `INFO` for the router's logging.",
        "`DEBUG` logs pixmux at debug level",
    ),
    _h("router_settings", "redis_host", "Redis host for state shared between instances.", _REDIS_HOW),
    _h("router_settings", "redis_port", "Redis port.", _REDIS_HOW),
    _h("router_settings", "redis_password", "Redis password.", _REDIS_HOW),
    _h("router_settings", "redis_url", "Redis URL (instead of host, port and password).", _REDIS_HOW),
    _h("router_settings", "redis_db", "Redis database number.", _REDIS_HOW),
    _i("router_settings", "cache_responses", "Cache answers.", _NO_CACHE),
    _i("router_settings", "caching_groups", "Groups sharing a cache.", _NO_CACHE),
    _i("router_settings", "cache_kwargs", "The cache's settings.", _NO_CACHE),
    _i(
        "router_settings",
        "client_ttl",
        "How long LiteLLM keeps an HTTP client.",
        "pixmux keeps one pooled client per process; ignored",
    ),
    _i("router_settings", "context_window_fallbacks", "Groups to try when a prompt is too long.", _IMAGES_ONLY),
    _i(
        "router_settings",
        "default_priority",
        "Queue priority of requests (scheduler only).",
        "pixmux has no request queue; ignored",
    ),
    _i(
        "router_settings",
        "polling_interval",
        "How often the scheduler's queue is polled.",
        "pixmux has no request queue; ignored",
    ),
    _i(
        "router_settings",
        "model_group_retry_policy",
        "`retry_policy` per model group (SDK only).",
        "ignored; use `retry_policy`",
    ),
    _i(
        "router_settings",
        "ignore_invalid_deployments",
        "Start even when a deployment is invalid.",
        "pixmux refuses an invalid deployment at start, naming it; ignored",
    ),
    _i(
        "router_settings",
        "deployment_affinity_ttl_seconds",
        "How long a key sticks to a deployment.",
        "pixmux has no deployment affinity; ignored",
    ),
    _i("router_settings", "alerting_config", "Slack alerting (SDK only).", "pixmux has no Slack alerts; ignored"),
    _i("router_settings", "assistants_config", "Assistants API settings.", _IMAGES_ONLY),
    _i("router_settings", "router_general_settings", "Router optimizations (SDK only).", "ignored"),
    _i("router_settings", "search_tools", "Search API tools.", _IMAGES_ONLY),
    _i(
        "router_settings",
        "guardrail_list",
        "Guardrail deployments to balance.",
        "pixmux does not run LiteLLM guardrails; ignored (the top-level `guardrails` is refused)",
    ),
    _r(
        "router_settings",
        "enable_tag_filtering",
        "Route each request only to deployments carrying its tags.",
        "pixmux has no tag-based routing, and routing without it could send a request to a deployment its tags "
        "exclude (another region, another team's account); give such deployments their own model_name",
    ),
    _r(
        "router_settings",
        "tag_filtering_match_any",
        "How tags match in tag-based routing.",
        "as for `enable_tag_filtering`: give such deployments their own model_name",
    ),
    _r(
        "router_settings",
        "provider_budget_config",
        "Spend limits per provider (`openai: $100/day`).",
        "pixmux cannot enforce provider budgets yet, and serving without them would overspend; remove it and bound "
        "spend with per-deployment `rpm`",
    ),
    _r(
        "router_settings",
        "optional_pre_call_checks",
        "Extra checks before each call (budget limiting, affinity, prompt caching).",
        "pixmux runs none of these, and `router_budget_limiting` among them guards spend; remove the list",
    ),
    # ------------------------------------------------------------------ general_settings
    _h("general_settings", "master_key", "The key clients must send (`Authorization: Bearer`)."),
    _h(
        "general_settings",
        "max_parallel_requests",
        "Most calls in flight per deployment.",
        "each deployment's `max_parallel_requests` unless it or "
        "`router_settings.default_max_parallel_requests` sets one",
    ),
    _h(
        "general_settings",
        "global_max_parallel_requests",
        "Most image requests in flight on the whole gateway.",
        "requests beyond it are answered 429 at once, with `Retry-After: 1`; counted per gateway process "
        "(each `--workers` process has the whole limit until shared state lands)",
    ),
    _h("general_settings", "max_request_size_mb", "Largest request body; larger ones are answered 413."),
    _h(
        "general_settings",
        "image_generation_model",
        "The model every generation uses, whatever the request's `model` says. Generations only: "
        "edits and variations go to the model they name.",
    ),
    _h(
        "general_settings",
        "database_url",
        "The database of virtual keys and spend.",
        "`postgresql://` or `sqlite:///file`; also read from `DATABASE_URL`; see the keys-and-spend page",
    ),
    _h("general_settings", "disable_spend_logs", "Do not write a spend log row per request."),
    _h("general_settings", "maximum_spend_logs_retention_period", "How long spend logs are kept."),
    _h(
        "general_settings",
        "allow_requests_on_db_unavailable",
        "Serve requests when the database is down.",
        "keys already in the cache keep working, with local budget accounting; rows are written when it is back",
    ),
    _h("general_settings", "store_prompts_in_spend_logs", "Keep prompts in the spend logs."),
    _p(
        "general_settings",
        "virtual_keys",
        "Virtual keys, budgets and spend without a `database_url`: SQLite beside the config.",
    ),
    _p("general_settings", "store_prompts", "Keep prompts in the spend logs (`store_prompts_in_spend_logs`)."),
    _p("general_settings", "key_cache_ttl", "Seconds a virtual key read from the database is trusted (5)."),
    _p("general_settings", "spend_journal_dir", "Where each process journals spend rows not yet written."),
    _p(
        "general_settings",
        "budget_blocks",
        "Reserve budgets in blocks each process holds (true); false: one database reservation per request.",
    ),
    _i(
        "general_settings",
        "maximum_spend_logs_retention_interval",
        "How often old spend logs are purged.",
        "pixmux purges every 10 minutes (or every retention period, if shorter); ignored",
    ),
    _i(
        "general_settings",
        "database_connection_pool_limit",
        "Database pool size.",
        "pixmux sizes its own pools per process; ignored",
    ),
    _i(
        "general_settings",
        "database_connection_timeout",
        "Database connect timeout.",
        "ignored until the database is connected",
    ),
    _i("general_settings", "disable_spend_updates", "Stop all spend updates.", "ignored until spend is tracked"),
    _i("general_settings", "disable_reset_budget", "Stop the budget reset task.", "ignored until budgets are tracked"),
    _i(
        "general_settings",
        "disable_adding_master_key_hash_to_db",
        "Keep the master key's hash out of the database.",
        "pixmux never stores the master key; ignored",
    ),
    _i(
        "general_settings",
        "disable_master_key_return",
        "Hide the master key on the UI.",
        "pixmux never shows the master key; ignored",
    ),
    _i(
        "general_settings",
        "disable_retry_on_max_parallel_request_limit_error",
        "Do not retry a parallel-limit refusal.",
        "pixmux answers a parallel-limit refusal at once, without retrying; ignored",
    ),
    _i("general_settings", "disable_responses_id_security", "Responses API id checks.", _IMAGES_ONLY),
    _i(
        "general_settings",
        "disable_prisma_schema_update",
        "Skip database migrations at start.",
        "ignored until the database is connected",
    ),
    _i("general_settings", "completion_model", "Default chat model.", _IMAGES_ONLY),
    _i("general_settings", "embedding_model", "Default embedding model.", _IMAGES_ONLY),
    _i("general_settings", "moderation_model", "Default moderation model.", _IMAGES_ONLY),
    _i(
        "general_settings",
        "infer_model_from_keys",
        "Build the model list from provider keys in the environment.",
        "pixmux serves the models of `model_list` only; ignored",
    ),
    _i(
        "general_settings",
        "store_model_in_db",
        "Keep models added on the UI in the database.",
        "pixmux reads models from this file only; ignored",
    ),
    _i(
        "general_settings",
        "supported_db_objects",
        "Which objects load from the database.",
        "pixmux reads models from this file only; ignored",
    ),
    _i(
        "general_settings",
        "background_health_checks",
        "Call each model in the background to check it.",
        "pixmux's readiness route never calls a provider (no spend on health checks); ignored",
    ),
    _i(
        "general_settings",
        "health_check_interval",
        "Seconds between background health checks.",
        "pixmux runs no background health checks; ignored",
    ),
    _i(
        "general_settings",
        "health_check_details",
        "Show rate-limit details on health routes.",
        "pixmux's health routes show no limits; ignored",
    ),
    _i(
        "general_settings", "alerting", "Alert channels (Slack, email).", "pixmux has no Slack or email alerts; ignored"
    ),
    _i("general_settings", "alerting_threshold", "Seconds before a slow call alerts.", "pixmux has no alerts; ignored"),
    _i("general_settings", "alerting_args", "Alerting settings.", "pixmux has no alerts; ignored"),
    _i("general_settings", "alert_types", "Which alerts to send.", "pixmux has no alerts; ignored"),
    _i("general_settings", "alert_to_webhook_url", "A webhook per alert type.", "pixmux has no alerts; ignored"),
    _i(
        "general_settings",
        "spend_report_frequency",
        "How often a spend report is sent.",
        "pixmux sends no reports; ignored",
    ),
    _h("general_settings", "proxy_batch_write_at", "Seconds between spend writes.", "default 1 second"),
    _i("general_settings", "proxy_batch_polling_interval", "Seconds between batch polls.", _IMAGES_ONLY),
    _i(
        "general_settings",
        "proxy_budget_rescheduler_min_time",
        "Budget reset timing.",
        "a budget resets when the first request after its period finds it due; ignored",
    ),
    _i(
        "general_settings",
        "proxy_budget_rescheduler_max_time",
        "Budget reset timing.",
        "ignored until budgets are tracked",
    ),
    _i(
        "general_settings",
        "max_response_size_mb",
        "Largest answer.",
        "pixmux answers carry the provider's images whole; ignored",
    ),
    _i(
        "general_settings",
        "user_api_key_cache_ttl",
        "Seconds a virtual key is cached.",
        "ignored until virtual keys arrive",
    ),
    _i("general_settings", "litellm_license", "LiteLLM's enterprise licence.", "ignored"),
    _i(
        "general_settings",
        "ui_access_mode",
        "Who may open LiteLLM's UI.",
        "pixmux's pages follow the master key; ignored",
    ),
    _i("general_settings", "user_mcp_management_mode", "MCP dashboard visibility.", _IMAGES_ONLY),
    _i(
        "general_settings",
        "pass_through_endpoints",
        "Routes forwarded to providers unchanged.",
        "pixmux has no pass-through routes; ignored",
    ),
    _i(
        "general_settings",
        "use_client_credentials_pass_through_routes",
        "Client credentials on pass-through routes.",
        "pixmux has no pass-through routes; ignored",
    ),
    _i(
        "general_settings",
        "forward_openai_org_id",
        "Forward the client's OpenAI organization.",
        "pixmux sends the deployment's `organization` only; ignored",
    ),
    _i(
        "general_settings",
        "forward_client_headers_to_llm_api",
        "Forward clients' `x-` headers to providers.",
        "pixmux never forwards client headers upstream; ignored",
    ),
    _i(
        "general_settings",
        "allow_client_side_credentials",
        "Let clients send provider credentials.",
        "clients never set credentials on pixmux's gateway; ignored (stricter than LiteLLM)",
    ),
    _i(
        "general_settings",
        "public_routes",
        "Routes served without a key.",
        "only the liveness route is served without a key; ignored (stricter than LiteLLM)",
    ),
    _i(
        "general_settings",
        "litellm_key_header_name",
        "Another header carrying the key.",
        "keys are read from `Authorization` and `api-key` only; ignored",
    ),
    _i(
        "general_settings",
        "reject_clientside_metadata_tags",
        "Refuse client-side `metadata.tags`.",
        "pixmux reads no client metadata; ignored",
    ),
    _i("general_settings", "default_team_disabled", "Forbid keys without a team.", "ignored until virtual keys arrive"),
    _i(
        "general_settings",
        "service_account_settings",
        "Settings for service-account keys.",
        "ignored until virtual keys arrive",
    ),
    _i(
        "general_settings",
        "use_x_forwarded_for",
        "Take the client address from `X-Forwarded-For`.",
        "pixmux logs the connection's address; ignored",
    ),
    _i("general_settings", "allow_user_auth", "LiteLLM's old user login (deprecated).", "ignored"),
    _r(
        "general_settings",
        "custom_auth",
        "A Python function that authenticates each request.",
        "pixmux does not run LiteLLM auth functions, and starting without it would let in requests it refuses; "
        "remove it and use `master_key`",
    ),
    _r(
        "general_settings",
        "enable_jwt_auth",
        "Authenticate admins with JWTs.",
        "pixmux has no JWT auth, and starting without it could open routes it guards; remove it and use `master_key`",
    ),
    _r(
        "general_settings",
        "litellm_jwtauth",
        "JWT auth settings.",
        "as for `enable_jwt_auth`: remove it and use `master_key`",
    ),
    _r(
        "general_settings",
        "enable_oauth2_auth",
        "OAuth 2.0 auth.",
        "pixmux has no OAuth 2.0 auth; remove it and use `master_key`",
    ),
    _r(
        "general_settings",
        "enable_oauth2_proxy_auth",
        "OAuth 2.0 proxy auth.",
        "pixmux has no OAuth 2.0 auth; remove it and use `master_key`",
    ),
    _r(
        "general_settings",
        "oauth2_config_mappings",
        "OAuth 2.0 mappings.",
        "pixmux has no OAuth 2.0 auth; remove it and use `master_key`",
    ),
    _r("general_settings", "custom_sso", "Custom single sign-on.", "pixmux has no SSO; remove it and use `master_key`"),
    _r(
        "general_settings",
        "allowed_ips",
        "Client addresses allowed to call the proxy.",
        "pixmux cannot filter clients by address yet, and starting without it would admit every address; "
        "filter at a firewall or load balancer and remove it",
    ),
    _r(
        "general_settings",
        "allowed_routes",
        "Routes a key may call.",
        "pixmux cannot restrict routes per key yet, and starting without it would open them; remove it",
    ),
    _r(
        "general_settings",
        "admin_only_routes",
        "Routes only admins may call.",
        "pixmux cannot restrict routes per key yet; remove it",
    ),
    _r(
        "general_settings",
        "enforce_user_param",
        "Refuse requests without a `user`.",
        "pixmux does not enforce it yet, and starting without it would accept anonymous requests; remove it",
    ),
    _r(
        "general_settings",
        "enforced_params",
        "Parameters every request must carry.",
        "pixmux does not enforce them yet; remove it",
    ),
    _r(
        "general_settings",
        "key_management_system",
        "Where encrypted config values are decrypted (Google or Azure KMS).",
        "pixmux cannot decrypt KMS values, so credentials would be read as ciphertext; decrypt them into "
        "environment variables and reference those with `os.environ/`",
    ),
    _r(
        "general_settings",
        "key_management_settings",
        "The key management system's settings.",
        "as for `key_management_system`",
    ),
    _r("general_settings", "use_azure_key_vault", "Read keys from Azure Key Vault.", "as for `key_management_system`"),
    _r("general_settings", "use_google_kms", "Decrypt keys with Google KMS.", "as for `key_management_system`"),
    _r(
        "general_settings",
        "custom_key_generate",
        "A function that checks key generation.",
        "virtual keys arrive with the keys and spend work; remove it until then",
    ),
    _p("general_settings", "gzip_images", "Also gzip answers that carry base64 images."),
    _p("general_settings", "max_upload_size_mb", "The largest edit or variation upload, in MB (default 64)."),
    _p(
        "general_settings",
        "allow_image_urls",
        "Fetch `http(s)` image URLs of JSON edits (default false); a deployment's `model_info` may say otherwise.",
    ),
    _p("general_settings", "upstream_max_connections", "Connections to providers one worker may hold open."),
    _p("general_settings", "download_horizon", "Download images whose URLs expire sooner than this many seconds."),
    _p(
        "general_settings",
        "redis_url",
        "Redis for state shared between instances (wins over router_settings).",
        "see docs/deployment.md",
    ),
    _p(
        "general_settings",
        "shared_state",
        "How shared state behaves: on_redis_error (open or closed), redis_timeout, key_prefix, cooldown_refresh.",
        "see docs/deployment.md",
    ),
    _p(
        "general_settings",
        "metrics",
        "Serve Prometheus metrics on GET /metrics (behind the master key).",
        "see docs/observability.md",
    ),
    _p(
        "general_settings",
        "tracing",
        "Export OpenTelemetry spans over OTLP (configured by OTEL_* variables).",
        "see docs/observability.md",
    ),
    _p(
        "general_settings",
        "allow_unauthenticated",
        "Serve without a master key on a non-loopback address (an authenticating proxy in front).",
    ),
    _p(
        "general_settings", "cors_allow_origins", "Browser origins allowed to call the gateway; CORS is off without it."
    ),
    _p(
        "general_settings",
        "max_header_size_kb",
        "Largest request line and headers (KiB); larger ones are answered 431.",
    ),
    _p("general_settings", "max_headers", "Most header lines per request; more are answered 431."),
    _p(
        "general_settings", "header_timeout", "Seconds for a request's headers to arrive; slower ones are answered 408."
    ),
    _p("general_settings", "body_timeout", "Seconds for a request's body to arrive; slower ones are answered 408."),
    _p("general_settings", "keep_alive_timeout", "Seconds an idle keep-alive connection stays open."),
    _p("general_settings", "max_connections", "Open connections per worker; one more is answered 503."),
    # ------------------------------------------------------------------ credential_list entries
    _h("credential_list", "credential_name", "The name deployments give as `litellm_credential_name`."),
    _h(
        "credential_list",
        "credential_values",
        "The values (`api_key`, `api_base`, `vertex_credentials`...) merged into those deployments.",
    ),
    _h(
        "credential_list",
        "credential_info",
        "Free-form facts about the credential (`description`).",
        "kept out of every call",
    ),
)

_INDEX: dict[tuple[str, str], Key] = {(key.section, key.name): key for key in KEYS}
if len(_INDEX) != len(KEYS):  # pragma: no cover - a duplicate line in the table
    raise AssertionError("pixmux.litellm_keys: a key is listed twice")

#: Keys of ``litellm_params`` that configure the deployment (credentials, endpoints, routing,
#: pricing, limits): never sent in a provider's body. Provider plugins read the ones they
#: declare as settings; the rest are the core's or the router's.
DEPLOYMENT_SETTINGS: frozenset[str] = frozenset(key.name for key in KEYS if key.section == "litellm_params") - {
    "model",
    # LiteLLM's routing tags: also a request parameter of some image APIs. The gateway's loader
    # drops them from `litellm_params` (with a start-up line); a library call passes them on.
    "tags",
    "tag_regex",
}


def lookup(section: str, name: str) -> Key | None:
    """The table's entry for ``name`` in ``section``, or ``None``."""
    return _INDEX.get((section, name))


def section_keys(section: str) -> list[Key]:
    """The keys of one section, in table order."""
    return [key for key in KEYS if key.section == section]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or ``""``."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


_TITLES: Mapping[str, str] = {
    "top": "Top level",
    "model_list": "`model_list` entries",
    "litellm_params": "`litellm_params`",
    "model_info": "`model_info`",
    "litellm_settings": "`litellm_settings`",
    "router_settings": "`router_settings`",
    "general_settings": "`general_settings`",
    "environment_variables": "`environment_variables`",
    "credential_list": "`credential_list` entries",
}
_INTROS: Mapping[str, str] = {
    "litellm_params": (
        "Any other key is a provider parameter: checked against the model at start and sent to the provider "
        "(`size`, `quality`, `negative_prompt`...). A key whose name says it holds a secret (`key`, `secret`, "
        "`token`, `password`, `credential`) and that the provider does not take is refused, so it never "
        "travels in a body."
    ),
    "model_info": "Other keys are free-form (`description`, your own metadata): kept, never sent.",
    "environment_variables": (
        "A mapping of names to values, set in the gateway's environment before any `os.environ/` reference "
        "is resolved (so `api_key: os.environ/NAME` may name a variable set here), and seen by providers that "
        "read their credentials from the environment. Values must be strings, numbers or booleans."
    ),
}
_KIND_WORDS: Mapping[str, str] = {HONOURED: "honoured", IGNORED: "ignored, one start-up line", REFUSED: "refused"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The docs page ``docs/litellm-compatibility.md``, generated from :data:`KEYS`."""
    counts = {kind: sum(1 for key in KEYS if key.kind == kind) for kind in (HONOURED, IGNORED, REFUSED)}
    lines = [
        "<!-- Generated by `python -m pixmux.litellm_keys > docs/litellm-compatibility.md`; do not edit. -->",
        "",
        "# LiteLLM config compatibility",
        "",
        "`pixmux serve` reads LiteLLM's proxy config. This page lists every key of LiteLLM's documented "
        "config and what pixmux does with it; it is generated from the table the config loader itself "
        "uses (`pixmux.litellm_keys`), so the two cannot disagree.",
        "",
        f"Of {len(KEYS)} keys, {counts[HONOURED]} are honoured, {counts[IGNORED]} are accepted with one "
        f"start-up line, and {counts[REFUSED]} are refused:",
        "",
        "- **honoured**: pixmux does what LiteLLM does (the last column says how, where it differs);",
        "- **ignored**: the gateway starts and logs one line saying why the key has no effect (an "
        "integration pixmux does not have, or a key that does not apply to images);",
        "- **refused**: the gateway does not start, and says why and what to do. Only keys whose silent "
        "absence would weaken security or spend control are refused.",
        "",
        "A key that is neither LiteLLM's nor pixmux's stops the start with a \"did you mean\" suggestion:",
        "",
        "```text",
        "pixmux serve: config error: config.yaml: router_settings.num_retrys: unknown key "
        "(did you mean 'num_retries'?); see the LiteLLM compatibility page of the docs for every key",
        "```",
        "",
        "Keys marked *pixmux* are pixmux's own; LiteLLM does not have them. A key marked *(landing)* is "
        "being connected now; until it is, the start-up line says what happens meanwhile.",
    ]
    for section in SECTIONS:
        lines += ["", f"## {_TITLES[section]}", ""]
        intro = _INTROS.get(section)
        if intro:
            lines += [intro, ""]
        keys = section_keys(section)
        if not keys:
            continue
        lines += ["| key | LiteLLM's meaning | pixmux | how, or why |", "|---|---|---|---|"]
        for key in keys:
            name = f"`{key.name}`" + (" *(pixmux)*" if key.origin == "pixmux" else "")
            kind = _KIND_WORDS[key.kind] + (" *(landing)*" if key.pending else "")
            how = key.how or ("as in LiteLLM" if key.kind == HONOURED else "")
            if key.pending:
                how = f"{how}; until then: {key.pending}" if key.how else f"until then: {key.pending}"
            lines.append(f"| {name} | {_cell(key.meaning)} | {kind} | {_cell(how)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
