"""Finding provider plugins through entry points, lazily, one provider at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from pixmux import hookspecs
from pixmux.catalogue import Catalogue
from pixmux.exceptions import ConfigurationError, PluginConflictError, ProviderNotFoundError

PROVIDER_GROUP = "pixmux.providers"
EXTENSION_GROUP = "pixmux.plugins"

#: Bare model names that mean OpenAI without a prefix.
_OPENAI_BARE_PREFIXES = ("gpt-image-", "dall-e-", "chatgpt-image-")


def distribution_for(provider: str) -> str:
    """The distribution a provider name is published as: ``vertex_ai`` → ``pixmux-vertex-ai``."""
    return "pixmux-" + provider.replace("_", "-")


@attrs.frozen(kw_only=True)
class Available:
    """An installed provider, not yet loaded."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: metadata.EntryPoint | None = attrs.field(default=None, eq=False)
    plugin: object | None = attrs.field(default=None, eq=False)


@attrs.define(kw_only=True)
class Provider:
    """A loaded provider: its own plugin manager (the plugin and the extension plugins) and its catalogue."""

    name: str
    plugin: object
    hooks: Any  # pluggy.HookRelay; typed loosely because hook names are dynamic
    catalogue: Catalogue
    distribution: str | None = None
    version: str | None = None
    #: Per hook name: the function :meth:`hook` gives. Filled in on first use.
    _bound: dict[str, Callable[..., Any]] = attrs.field(factory=dict, repr=False, eq=False, alias="_bound")

    _implemented: dict[str, bool] = attrs.field(factory=dict, repr=False, eq=False, alias="_implemented")

    def hook(self, name: str) -> Callable[..., Any]:
        """
        The ``firstresult`` hook ``name`` as a function of its hookspec's arguments, all given by keyword.

        With one plain implementation (no extension implements or wraps the hook), pluggy's
        result is exactly that implementation's result, so the function calls it straight,
        passing the arguments it names by keyword (bound once, at first use); otherwise it is
        pluggy's own dispatch. Either way arguments go by name, so the order of a hookspec's
        parameters never matters.
        """
        found = self._bound.get(name)
        if found is None:
            found = self._bound[name] = _bind(getattr(self.hooks, name))
        return found

    def call(self, name: str, **arguments: Any) -> Any:
        """Call the ``firstresult`` hook ``name`` by keyword, as pluggy does (see :meth:`hook`)."""
        return self.hook(name)(**arguments)

    def implements(self, name: str) -> bool:
        """Whether any plugin of this provider implements the hook ``name`` (a provider's hooks never change)."""
        found = self._implemented.get(name)
        if found is None:
            found = self._implemented[name] = bool(getattr(self.hooks, name).get_hookimpls())
        return found


def _bind(caller: Any) -> Callable[..., Any]:
    """
    A hook's one plain implementation as a function of the hookspec's arguments, or pluggy's ``caller``.

    The implementation takes a subset of the hookspec's names (pluggy refuses one naming any
    other); the function takes them all by keyword and passes on, by keyword, those the
    implementation names, as pluggy's own call does. It is written out once per hook
    (``def build_request(*, request, deployment, model, auth): return impl(request=request, ...)``),
    so a call pays for two plain calls and builds no dict of arguments.
    """
    impls = caller.get_hookimpls()
    if len(impls) != 1 or impls[0].hookwrapper or impls[0].wrapper:
        return caller  # type: ignore[no-any-return]
    impl = impls[0]
    spec = tuple(caller.spec.argnames) if caller.spec is not None else tuple(impl.argnames)
    if not spec:
        return impl.function  # type: ignore[no-any-return]
    passed = ", ".join(f"{argname}={argname}" for argname in impl.argnames)
    target = "implementation"
    while target in spec:  # a parameter of that name would hide it
        target = f"_{target}"
    namespace: dict[str, Any] = {target: impl.function}
    # The names are the hookspec's parameters (identifiers in pixmux.hookspecs), nothing from outside.
    exec(f"def {caller.name}(*, {', '.join(spec)}):\n    return {target}({passed})\n", namespace)  # noqa: S102
    return namespace[caller.name]  # type: ignore[no-any-return]


def _scan(group: str) -> dict[str, list[metadata.EntryPoint]]:
    found: dict[str, list[metadata.EntryPoint]] = {}
    for entry in metadata.entry_points(group=group):
        found.setdefault(entry.name, []).append(entry)
    return found


def _dist_of(entry: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = entry.dist
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _make_manager(plugin: object, name: str, extensions: Iterable[object]) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(plugin, name=f"provider:{name}")
        for index, extension in enumerate(extensions):
            manager.register(
                extension, name=f"extension:{index}:{getattr(extension, '__name__', type(extension).__name__)}"
            )
    except pluggy.PluginValidationError as exc:
        raise ConfigurationError(
            f"plugin for provider {name!r} does not fit the hook specs: {exc}", provider=name
        ) from exc
    return manager


class Registry:
    """
    The providers an engine can use: discovered from entry points, or given explicitly.

    Nothing is imported until a provider is first asked for, and then only that provider's plugin.
    """

    def __init__(
        self,
        *,
        plugins: Mapping[str, object] | None = None,
        extensions: Iterable[object] | None = None,
        discover: bool = True,
    ) -> None:
        self._explicit = dict(plugins or {})
        self._explicit_extensions = list(extensions or [])
        self._discover = discover
        self._available: dict[str, Available] | None = None
        self._extensions: list[object] | None = None
        self._loaded: dict[str, Provider] = {}
        self._lock = threading.RLock()

    def available(self) -> Mapping[str, Available]:
        """Installed providers by name, without importing any of them."""
        if self._available is None:
            with self._lock:
                if self._available is None:
                    self._available = self._find()
        return self._available

    def _find(self) -> dict[str, Available]:
        found: dict[str, Available] = {}
        if self._discover:
            for name, entries in _scan(PROVIDER_GROUP).items():
                dists = {_dist_of(entry) for entry in entries}
                if len({dist for dist, _ in dists}) > 1:
                    claimants = ", ".join(sorted(str(dist) for dist, _ in dists))
                    found[name] = Available(name=name, distribution=f"CONFLICT: {claimants}", version=None)
                    continue
                dist, version = _dist_of(entries[0])
                found[name] = Available(name=name, distribution=dist, version=version, entry_point=entries[0])
        for name, plugin in self._explicit.items():
            found[name] = Available(
                name=name, distribution=getattr(plugin, "__name__", None), version=None, plugin=plugin
            )
        return found

    def _extension_plugins(self) -> list[object]:
        if self._extensions is None:
            loaded = list(self._explicit_extensions)
            if self._discover:
                for entries in _scan(EXTENSION_GROUP).values():
                    for entry in entries:
                        loaded.append(entry.load())
            self._extensions = loaded
        return self._extensions

    def get(self, name: str) -> Provider:
        """The loaded provider ``name``, importing its plugin on first use."""
        provider = self._loaded.get(name)
        if provider is not None:
            return provider
        with self._lock:
            provider = self._loaded.get(name)
            if provider is None:
                provider = self._load(name)
                self._loaded[name] = provider
        return provider

    def _load(self, name: str) -> Provider:
        available = self.available().get(name)
        if available is None:
            raise self.not_found(name)
        if available.distribution and available.distribution.startswith("CONFLICT: "):
            raise PluginConflictError(
                f"provider {name!r} is registered by more than one installed distribution "
                f"({available.distribution.removeprefix('CONFLICT: ')}); uninstall all but one",
                provider=name,
            )
        plugin = available.plugin
        if plugin is None:
            assert available.entry_point is not None
            try:
                plugin = available.entry_point.load()
            except ImportError as exc:
                raise ConfigurationError(
                    f"the plugin for provider {name!r} ({available.distribution}) failed to import: {exc}",
                    provider=name,
                ) from exc
        manager = _make_manager(plugin, name, self._extension_plugins())
        missing = [
            hook for hook in ("build_request", "parse_response") if not getattr(manager.hook, hook).get_hookimpls()
        ]
        if missing:
            raise ConfigurationError(
                f"the plugin for provider {name!r} does not implement {', '.join(missing)}", provider=name
            )
        if manager.hook.model_catalogue.get_hookimpls():
            catalogue = manager.hook.model_catalogue()
        else:  # optional: every model is unknown (validated leniently, no price)
            catalogue = Catalogue(provider=name)
        if not isinstance(catalogue, Catalogue):
            raise ConfigurationError(f"provider {name!r}: model_catalogue() did not return a Catalogue", provider=name)
        return Provider(
            name=name,
            plugin=plugin,
            hooks=manager.hook,
            catalogue=catalogue,
            distribution=available.distribution,
            version=available.version,
        )

    def not_found(self, name: str) -> ProviderNotFoundError:
        """The error for a provider name nothing installed serves: lists what is installed and what to install."""
        installed = ", ".join(sorted(self.available())) or "none"
        return ProviderNotFoundError(
            f"no provider plugin named {name!r} is installed (installed: {installed}); "
            f"install it with `pip install {distribution_for(name)}` "
            f"(from a checkout of pixmux: `pip install ./plugins/{name.replace('_', '-')}`, "
            "or `uv sync --all-packages`)",
            provider=name,
            param="model",
        )

    def resolve(self, model: str, custom_llm_provider: str | None = None) -> tuple[str, str]:
        """
        Split a model string into ``(provider, model name)``.

        ``provider/name`` names the provider; ``custom_llm_provider`` forces one (a leading
        ``provider/`` matching it is then removed); bare OpenAI names (``gpt-image-1``,
        ``dall-e-3``) mean ``openai``.
        """
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError("model must be a non-empty string such as 'openai/gpt-image-1'", param="model")
        forced: object = custom_llm_provider  # callers pass anything, whatever the annotation says
        if forced is not None and not isinstance(forced, str):
            kind = type(forced).__name__
            raise ConfigurationError(
                f"custom_llm_provider must be a provider name such as 'openai', not {kind}", param="custom_llm_provider"
            )
        if custom_llm_provider:
            prefix = f"{custom_llm_provider}/"
            return custom_llm_provider, model.removeprefix(prefix)
        head, sep, rest = model.partition("/")
        if sep and rest:
            if head in self.available():
                return head, rest
            raise self.not_found(head)
        if model.startswith(_OPENAI_BARE_PREFIXES):
            return "openai", model
        installed = ", ".join(sorted(self.available())) or "none"
        raise ProviderNotFoundError(
            f"cannot tell which provider serves model {model!r}: write it as 'provider/{model}' "
            f"(installed providers: {installed}), or pass custom_llm_provider=",
            param="model",
        )
