"""The plugin system: entry-point discovery, the block list, broken plugins, connect() by scheme."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import gemini_vectors as gv
from gemini_vectors import hookspecs, plugins
from gemini_vectors.cli import main
from gemini_vectors.errors import UnknownStoreError


def install_fake_distribution(root: Path, dist: str, module: str, entry_name: str, source: str) -> None:
    """Lay out an installed distribution (dist-info + module) that importlib.metadata will discover."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[gemini_vectors]\n{entry_name} = {module}\n")
    (info / "RECORD").write_text("")


GOOD_PLUGIN = """
    from gemini_vectors.hookspecs import hookimpl
    from gemini_vectors.memory_store import MemoryStore

    class ThatStore(MemoryStore):
        pass

    def open_that(url, **options):
        store = ThatStore(url)
        store.options = options
        return store

    @hookimpl
    def register_stores(register):
        register("thatscheme", open_that)
"""


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    plugins.reload_plugins()
    yield
    plugins.reload_plugins()


@pytest.fixture
def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugin_is_reached_by_its_scheme(fake_site: Path) -> None:
    install_fake_distribution(fake_site, "gv-that-plugin", "gv_that_plugin", "that", GOOD_PLUGIN)
    store = gv.connect("thatscheme://somewhere", answer=42)
    assert type(store).__name__ == "ThatStore"
    assert store.options == {"answer": 42}  # type: ignore[attr-defined]
    info = {p.name: p for p in plugins.list_plugins()}["that"]
    assert (info.version, info.distribution, info.schemes) == ("1.2.3", "gv-that-plugin", ("thatscheme",))
    assert "register_stores" in info.hooks


def test_blocked_plugin_disappears(fake_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_distribution(fake_site, "gv-that-plugin", "gv_that_plugin2", "that", GOOD_PLUGIN)
    monkeypatch.setenv("GEMINI_VECTORS_DISABLE_PLUGINS", "other, that")
    plugins.reload_plugins()
    assert "thatscheme" not in plugins.store_schemes()
    assert "that" not in {p.name for p in plugins.list_plugins()}
    with pytest.raises(UnknownStoreError, match="thatscheme"):
        gv.connect("thatscheme://x")


def test_builtin_plugins_can_be_blocked_too(monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    monkeypatch.setenv("GEMINI_VECTORS_DISABLE_PLUGINS", "memory")
    plugins.reload_plugins()
    with pytest.raises(UnknownStoreError):
        gv.connect("memory://")


def test_broken_plugin_is_reported_and_others_survive(
    fake_site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_fake_distribution(
        fake_site, "gv-broken", "gv_broken_mod", "broken", "import no_such_module_xyz\n"
    )
    install_fake_distribution(fake_site, "gv-that-plugin", "gv_that_plugin3", "that", GOOD_PLUGIN)
    assert type(gv.connect("thatscheme://")).__name__ == "ThatStore"
    (broken,) = [b for b in plugins.broken_plugins() if b.name == "broken"]
    assert broken.distribution == "gv-broken"
    assert "no_such_module_xyz" in broken.error
    assert "broken" in caplog.text


def test_plugin_failing_inside_its_hook_is_dropped(fake_site: Path) -> None:
    source = """
        from gemini_vectors.hookspecs import hookimpl

        @hookimpl
        def register_stores(register):
            raise RuntimeError("boom in hook")
    """
    install_fake_distribution(fake_site, "gv-boom", "gv_boom_mod", "boom", source)
    assert "memory" in plugins.store_schemes()
    assert any(b.name == "boom" and "boom in hook" in b.error for b in plugins.broken_plugins())


def test_unknown_scheme_lists_known_ones_and_names_the_distribution(fresh_plugins: None) -> None:
    with pytest.raises(UnknownStoreError) as info:
        gv.connect("nosuchdb://x")
    assert "memory" in str(info.value)
    if "weaviate" not in plugins.store_schemes():
        with pytest.raises(UnknownStoreError, match="pip install gemini-vectors-weaviate"):
            gv.connect("weaviate://localhost:8080")


def test_not_a_url() -> None:
    with pytest.raises(UnknownStoreError, match="not a store URL"):
        gv.connect("just-a-name")


def test_register_stores_refuses_a_scheme_claimed_twice(fresh_plugins: None) -> None:
    class Claimer:
        @hookspecs.hookimpl
        def register_stores(self, register: hookspecs.RegisterStore) -> None:
            register("memory", lambda url, **o: gv.connect("memory://"))

    plugins.register_plugin(Claimer(), name="claimer")
    assert any(b.name == "claimer" and "already served" in b.error for b in plugins.broken_plugins())
    assert type(gv.connect("memory://")).__name__ == "MemoryStore"


def test_cli_lists_plugins(capsys: pytest.CaptureFixture[str], fresh_plugins: None) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "memory" in out and "register_stores" in out


# -- datasette-style meta tests: every hook is tested and documented -------------------------------

HOOKS = sorted(
    name for name in dir(hookspecs) if getattr(getattr(hookspecs, name), "gemini_vectors_spec", None)
)


def test_the_hook_list_is_what_we_think() -> None:
    assert HOOKS == ["register_stores", "vector_column_type"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_the_readme(hook: str) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"`{hook}(" in readme, f"hook {hook} is not documented in README.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    root = Path(__file__).parent.parent
    pattern = re.compile(rf"def test_\w*{hook}\w*\(")
    tested = [
        p
        for d in ("tests", "plugins")
        for p in (root / d).rglob("test_*.py")
        if pattern.search(p.read_text())
    ]
    assert tested, f"no test function named after hook {hook}"


def test_vector_column_type_hook_first_result_wins(fresh_plugins: None) -> None:
    spec = gv.EmbeddingSpec.for_model("gemini-embedding-2", 768)

    class First:
        @hookspecs.hookimpl
        def vector_column_type(self, dialect: object, spec: gv.EmbeddingSpec) -> object:
            return ("first", dialect, spec.dimensions) if dialect == "fake-dialect" else None

    plugins.register_plugin(First(), name="first-col")
    assert plugins.vector_column_type("fake-dialect", spec) == ("first", "fake-dialect", 768)
    assert plugins.vector_column_type("other-dialect", spec) is None or "first" not in str(
        plugins.vector_column_type("other-dialect", spec)
    )
    plugins.unregister_plugin("first-col")
    assert plugins.vector_column_type("fake-dialect", spec) is None
