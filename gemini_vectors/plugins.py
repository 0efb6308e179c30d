"""The plugin manager: the one place that calls ``pm.hook``, behind typed functions.

Plugins are modules that implement the hooks of :mod:`gemini_vectors.hookspecs`. Built-in plugins are
registered from the core; external ones are loaded from the ``gemini_vectors`` entry-point group. Set
``GEMINI_VECTORS_DISABLE_PLUGINS=name1,name2`` to block plugins by name (entry-point or built-in name).
A plugin that fails to import is reported by name and does not take the others down.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pluggy

from gemini_vectors import hookspecs
from gemini_vectors.errors import ArgumentError, PluginError, UnknownStoreError
from gemini_vectors.hookspecs import StoreFactory
from gemini_vectors.redaction import redact_url
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import VectorStore

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "gemini_vectors"
DISABLE_ENV = "GEMINI_VECTORS_DISABLE_PLUGINS"

#: Built-in plugins, by name, as importable module paths.
BUILTIN_PLUGINS: dict[str, str] = {"memory": "gemini_vectors.memory_store"}

#: Which distribution serves the schemes of the official backends, for the "install X" hint.
KNOWN_DISTRIBUTIONS: dict[str, str] = {
    "postgresql": "gemini-vectors-pgvector",
    "postgresql+psycopg": "gemini-vectors-pgvector",
    "postgresql+embedded": "gemini-vectors-pgvector",
    "postgres": "gemini-vectors-pgvector",
    "weaviate": "gemini-vectors-weaviate",
    "weaviates": "gemini-vectors-weaviate",
    "weaviate+cloud": "gemini-vectors-weaviate",
    "pinecone": "gemini-vectors-pinecone",
    "qdrant": "gemini-vectors-qdrant",
    "qdrants": "gemini-vectors-qdrant",
    "qdrant+local": "gemini-vectors-qdrant",
    "qdrant+memory": "gemini-vectors-qdrant",
    "chroma": "gemini-vectors-chroma",
    "chroma+http": "gemini-vectors-chroma",
    "chroma+https": "gemini-vectors-chroma",
    "milvus": "gemini-vectors-milvus",
    "milvuss": "gemini-vectors-milvus",
    "milvus+lite": "gemini-vectors-milvus",
}

#: What ``connect()`` with no URL opens: the embedded Postgres of the pgvector plugin.
DEFAULT_URL = "postgresql+embedded://"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its name, the distribution that ships it, and the schemes it serves."""

    name: str
    version: str | None
    distribution: str | None
    builtin: bool
    schemes: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded, and why."""

    name: str
    distribution: str | None
    error: str


@dataclass
class _Registry:
    pm: pluggy.PluginManager
    stores: dict[str, tuple[str, StoreFactory]] = field(default_factory=dict)
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)


_registry: _Registry | None = None


def _blocked() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _load(pm: pluggy.PluginManager, blocked: set[str]) -> tuple[dict[str, PluginInfo], list[BrokenPlugin]]:
    infos: dict[str, PluginInfo] = {}
    broken: list[BrokenPlugin] = []
    for name, module_path in BUILTIN_PLUGINS.items():
        if name in blocked:
            continue
        pm.register(importlib.import_module(module_path), name=name)
        infos[name] = PluginInfo(name, None, "gemini-vectors", builtin=True)
    for ep in _entry_points():
        if ep.name in blocked or pm.has_plugin(ep.name):
            continue
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            log.warning("gemini-vectors plugin %r (%s) failed to load: %s", ep.name, dist, exc)
            broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        infos[ep.name] = PluginInfo(ep.name, version, dist, builtin=False)
    return infos, broken


def _collect_stores(registry: _Registry) -> None:
    for impl in registry.pm.hook.register_stores.get_hookimpls():
        plugin_name = registry.pm.get_name(impl.plugin) or repr(impl.plugin)
        schemes: list[str] = []

        def register(
            scheme: str, factory: StoreFactory, _plugin: str = plugin_name, _schemes: list[str] = schemes
        ) -> None:
            key = scheme.lower()
            owner = registry.stores.get(key, (_plugin, None))[0]
            if owner != _plugin:
                raise PluginError(f"plugin {_plugin!r} registers scheme {key!r}, already served by {owner!r}")
            registry.stores[key] = (_plugin, factory)
            _schemes.append(key)

        try:
            impl.function(register=register)
        except Exception as exc:
            log.warning("gemini-vectors plugin %r failed in register_stores: %s", plugin_name, exc)
            info = registry.infos.pop(plugin_name, None)
            registry.broken.append(
                BrokenPlugin(plugin_name, info.distribution if info else None, f"{type(exc).__name__}: {exc}")
            )
            registry.pm.unregister(name=plugin_name)
            continue
        if plugin_name in registry.infos:
            old = registry.infos[plugin_name]
            registry.infos[plugin_name] = PluginInfo(
                old.name, old.version, old.distribution, old.builtin, tuple(schemes), old.hooks
            )


def _build() -> _Registry:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    infos, broken = _load(pm, _blocked())
    registry = _Registry(pm=pm, infos=infos, broken=broken)
    _collect_stores(registry)
    for name, info in list(registry.infos.items()):
        plugin = pm.get_plugin(name)
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ())) if plugin is not None else ()
        registry.infos[name] = PluginInfo(
            info.name, info.version, info.distribution, info.builtin, info.schemes, hooks
        )
    return registry


def get_registry() -> _Registry:
    """The process-wide registry, built on first use."""
    global _registry
    if _registry is None:
        _registry = _build()
    return _registry


def reload_plugins() -> None:
    """Forget every loaded plugin and load them again (after installing one, or changing the block list)."""
    global _registry
    _registry = None


def register_plugin(module: ModuleType | object, name: str) -> None:
    """Register a plugin object at run time (for tests and applications that ship their own hooks)."""
    registry = get_registry()
    registry.pm.register(module, name=name)
    registry.infos[name] = PluginInfo(name, None, None, builtin=False)
    _collect_stores(registry)


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin` and the schemes it served."""
    registry = get_registry()
    registry.pm.unregister(name=name)
    registry.infos.pop(name, None)
    for scheme in [s for s, (owner, _) in registry.stores.items() if owner == name]:
        del registry.stores[scheme]


def list_plugins() -> list[PluginInfo]:
    """Every loaded plugin, built-in ones first."""
    return sorted(get_registry().infos.values(), key=lambda p: (not p.builtin, p.name))


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed to load, with the reason."""
    return list(get_registry().broken)


def store_schemes() -> list[str]:
    """Every URL scheme some plugin serves."""
    return sorted(get_registry().stores)


def _scheme_of(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise UnknownStoreError(
            f"{redact_url(url)!r} is not a store URL; expected e.g. 'postgresql://...' or 'memory://'"
        )
    return scheme


def connect(url: str | None = None, **options: Any) -> VectorStore:
    """Open the vector store a URL names; the URL's scheme picks the plugin.

    With no URL, the embedded PostgreSQL of the pgvector plugin is used (data kept in the user data dir).

    Raises:
        UnknownStoreError: no installed plugin serves the scheme; the message lists the known schemes and
            the distribution to install.
    """
    if url is not None and not isinstance(url, str):
        raise ArgumentError(f"connect() takes a URL string, got {type(url).__name__}")
    target = DEFAULT_URL if url is None else url
    scheme = _scheme_of(target)
    registry = get_registry()
    entry = registry.stores.get(scheme)
    if entry is None:
        known = ", ".join(sorted(registry.stores)) or "none"
        hint = ""
        if scheme in KNOWN_DISTRIBUTIONS:
            dist = KNOWN_DISTRIBUTIONS[scheme]
            blocked = " (it may be blocked by " + DISABLE_ENV + ")" if _blocked() else ""
            hint = f" Install it with: pip install {dist}{blocked}."
        if url is None:
            hint = (
                " connect() with no URL opens an embedded PostgreSQL with pgvector, which needs the "
                "pgvector plugin: pip install gemini-vectors-pgvector."
            )
        raise UnknownStoreError(f"no plugin serves {scheme!r} URLs (known schemes: {known}).{hint}")
    return entry[1](target, **options)


def vector_column_type(dialect: Any, spec: EmbeddingSpec) -> Any:
    """The SQLAlchemy column type a plugin offers for vectors of ``spec`` on ``dialect``, or None."""
    return get_registry().pm.hook.vector_column_type(dialect=dialect, spec=spec)
