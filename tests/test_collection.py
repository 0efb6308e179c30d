"""Collection: embed-and-store over the real SDK (against the emulator) and the memory:// store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors.errors import (
    ArgumentError,
    ConfigurationError,
    ContentError,
    MetadataError,
    PartialEmbeddingError,
    SpecMismatchError,
)
from gemini_vectors.testing.counting import CountingCollection
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.media import png


@pytest.fixture
def emb(gemini_emulator: GeminiEmulator) -> gv.Embedder:
    return gv.Embedder(dimensions=256, client=gemini_emulator.client())


@pytest.fixture
def docs(emb: gv.Embedder) -> gv.Collection:
    return gv.connect("memory://").collection("docs", embedder=emb)


CORPUS = [
    "a cat sleeping on a sunny windowsill",
    "stock markets fell after the rate decision",
    "how to bake sourdough bread at home",
    "the kitten slept in the warm sun",
    "central bank raises interest rates",
]


def test_add_then_search(docs: gv.Collection) -> None:
    ids = docs.add(CORPUS, metadata=[{"n": i, "even": i % 2 == 0} for i in range(5)])
    assert len(ids) == 5 and len(set(ids)) == 5
    assert docs.count() == 5
    top = docs.search("sourdough bread", k=2)
    assert top[0].id == ids[2]
    assert top[0].score > top[1].score
    only_even = docs.search("interest rates", k=5, filter={"even": True})
    assert {m.id for m in only_even} == {ids[0], ids[2], ids[4]}
    assert only_even[0].id == ids[4]


def test_given_ids_and_metadata_are_stored(docs: gv.Collection) -> None:
    docs.add(CORPUS[:2], ids=["a", "b"], metadata=[{"lang": "en"}, None])
    got = docs.get(["b", "a"])
    assert [r.id for r in got] == ["b", "a"]
    assert dict(got[1].metadata) == {"lang": "en"} and dict(got[0].metadata) == {}
    assert got[0].vector.shape == (256,)


def test_re_adding_1000_items_makes_no_calls(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    items = [f"item {i} with words w{i % 31} v{i % 7}" for i in range(1000)]
    first = docs.add(items)
    assert gemini_emulator.stats.embed_requests == 1000
    gemini_emulator.stats.reset()
    again = docs.add(items)
    assert again == first
    assert gemini_emulator.stats.embed_calls == 0
    assert docs.count() == 1000


def test_only_changed_content_is_re_embedded(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    docs.add(CORPUS, ids=list("abcde"), metadata=[{"v": 1}] * 5)
    before = {r.id: r.vector for r in docs.get(list("abcde"))}
    gemini_emulator.stats.reset()
    changed = [*CORPUS]
    changed[1] = "a completely different text about volcanoes"
    docs.add(changed, ids=list("abcde"), metadata=[{"v": 1}] * 4 + [{"v": 2}])
    assert gemini_emulator.stats.embed_requests == 1
    after = {r.id: r for r in docs.get(list("abcde"))}
    assert not np.array_equal(after["b"].vector, before["b"])
    np.testing.assert_array_equal(after["e"].vector, before["e"])
    assert dict(after["e"].metadata) == {"v": 2}  # metadata refreshed without re-embedding


def test_titles_change_the_vector_and_the_hash(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    docs.add(["same text"], ids=["x"])
    gemini_emulator.stats.reset()
    docs.add(["same text"], ids=["x"], titles=["A title"])
    assert gemini_emulator.stats.embed_requests == 1


def test_partial_failure_stores_the_rest(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.faults.reject_texts_containing = "POISON"
    items = [f"text {i}" for i in range(10)]
    items[4] = "POISON"
    with pytest.raises(PartialEmbeddingError) as info:
        docs.add(items, ids=[f"id{i}" for i in range(10)])
    assert list(info.value.failures) == [4]
    assert info.value.ids is not None and info.value.ids[4] == "id4"
    assert docs.count() == 9
    assert docs.get(["id4"]) == []


def test_spec_mismatch_on_open(gemini_emulator: GeminiEmulator) -> None:
    store = gv.connect("memory://")
    store.collection("c", embedder=gv.Embedder(dimensions=256, client=gemini_emulator.client())).add(["x"])
    other = gv.Embedder(dimensions=768, client=gemini_emulator.client())
    with pytest.raises(SpecMismatchError, match="re-embed") as info:
        store.collection("c", embedder=other)
    assert "gemini-embedding-2/256" in str(info.value) and "gemini-embedding-2/768" in str(info.value)


def test_vectors_without_an_embedder(docs: gv.Collection) -> None:
    docs.add(CORPUS, ids=list("abcde"))
    plain = gv.Collection(docs.backend)
    vec = docs.get(["c"])[0].vector
    assert plain.search(vec * 3, k=1)[0].id == "c"  # a query vector is normalized
    assert plain.search(list(map(float, vec)), k=1)[0].id == "c"
    with pytest.raises(ConfigurationError, match="without an embedder"):
        plain.search("bread")
    with pytest.raises(ValueError, match="dimensions"):
        plain.search(np.ones(3, np.float32))


def test_bad_inputs(docs: gv.Collection) -> None:
    with pytest.raises(ArgumentError, match="got 1 ids for 2 items"):
        docs.add(["a", "b"], ids=["1"])
    with pytest.raises(ArgumentError, match="got 2 metadata for 1 items"):
        docs.add(["a"], metadata=[{}, {}])
    with pytest.raises(ArgumentError, match="fewer ids than items: none for item 1"):
        docs.add(iter(["a", "b"]), ids=iter(["1"]))
    with pytest.raises(ArgumentError, match="more metadata than items"):
        docs.add(iter(["a"]), metadata=iter([{}, {}]))
    with pytest.raises(TypeError, match="items takes a list of items, got one str"):
        docs.add("just a string")
    with pytest.raises(MetadataError, match="item 1"):
        docs.add(["a", "b"], metadata=[{}, {"k": None}])
    with pytest.raises(MetadataError, match="item 1: metadata must be a mapping"):
        docs.add(["a", "b"], metadata=[{}, "lang=en"])
    with pytest.raises(ArgumentError, match="metadata takes a list of mappings, got a mapping"):
        docs.add(["a"], metadata={"lang": "en"})
    with pytest.raises(ArgumentError, match="item 1: a title must be a str or None"):
        docs.add(["a", "b"], titles=["t", 2])  # type: ignore[list-item]
    assert docs.count() == 0


def test_a_lone_string_or_item_is_not_taken_apart(docs: gv.Collection) -> None:
    docs.add(["x", "y", "z"], ids=["a", "b", "c"])
    for call in (lambda: docs.delete("abc"), lambda: docs.delete(ids="abc"), lambda: docs.get("abc")):
        with pytest.raises(ArgumentError, match="ids takes a list of ids, got one str"):
            call()
    with pytest.raises(ArgumentError, match="ids takes a list of ids"):
        docs.add(["p", "q"], ids="pq")
    with pytest.raises(ArgumentError, match="got one Item"):
        docs.add(gv.Item(["caption", "more"]))
    assert sorted(docs.ids()) == ["a", "b", "c"]


def test_ids_repeated_in_one_add_are_refused(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    with pytest.raises(MetadataError, match="item 2: id 'x' is also the id of item 0"):
        docs.add(["first", "second", "third"], ids=["x", "y", "x"])
    with pytest.raises(MetadataError, match=r"item 1: ids must be non-empty strings"):
        docs.add(["first", "second"], ids=["x", ""])
    with pytest.raises(MetadataError, match="NUL"):
        docs.add(["first"], ids=["a\x00b"])
    assert docs.count() == 0 and gemini_emulator.stats.embed_calls == 0
    # the same content twice without ids is one record (its id is derived from the content)
    assert len(set(docs.add(["same", "same"]))) == 1 and docs.count() == 1


def test_a_bad_item_is_named_by_its_place_and_nothing_is_written(
    gemini_emulator: GeminiEmulator, emb: gv.Embedder
) -> None:
    docs = gv.connect("memory://").collection("docs", embedder=emb)  # chunks of 500 items
    docs.add(["a", "b", "c"], ids=["1", "2", "3"])
    gemini_emulator.stats.reset()
    with pytest.raises(ContentError, match=r"^item 3: ") as info:
        docs.add(["a", "b", "c", ""], ids=["1", "2", "3", "4"])  # only item 3 would be embedded
    assert info.value.index == 3
    items = [f"text {i}" for i in range(600)]
    items[599] = ""
    with pytest.raises(ContentError, match=r"^item 599: ") as info:
        docs.add(items, ids=[str(i) for i in range(600)])  # a list: checked whole, before any chunk
    assert docs.count() == 3 and gemini_emulator.stats.embed_calls == 0
    with pytest.raises(ArgumentError, match="got 550 ids for 600 items"):
        docs.add([f"t{i}" for i in range(600)], ids=[str(i) for i in range(550)])
    assert docs.count() == 3 and gemini_emulator.stats.embed_calls == 0


def test_a_generator_names_the_bad_item_and_what_was_stored(
    gemini_emulator: GeminiEmulator, emb: gv.Embedder
) -> None:
    docs = gv.connect("memory://").collection("docs", embedder=emb)  # chunks of 500 items
    items = [f"text {i}" for i in range(600)]
    items[599] = ""
    with pytest.raises(ContentError, match=r"^item 599: ") as info:
        docs.add(iter(items))  # a generator is checked one chunk at a time
    assert info.value.index == 599
    assert docs.count() == 500
    assert any("items 0..499 of this add() were stored" in note for note in info.value.__notes__)


def test_search_checks_k_before_embedding(docs: gv.Collection, gemini_emulator: GeminiEmulator) -> None:
    gemini_emulator.stats.reset()
    for bad in (0, -1, 2.5, True, "3", None):
        with pytest.raises(ArgumentError, match="k must be"):
            docs.search("fruit", k=bad)  # type: ignore[arg-type]
    assert gemini_emulator.stats.embed_calls == 0
    docs.add(["apples and pears"], ids=["a"])
    vec = docs.get(["a"])[0].vector
    assert docs.search([np.float32(x) for x in vec], k=1)[0].id == "a"  # numpy scalars are numbers
    with pytest.raises(ArgumentError, match="all zeros"):
        docs.search(np.zeros(docs.spec.dimensions, np.float32))


def test_delete_and_ids(docs: gv.Collection) -> None:
    docs.add(CORPUS, ids=list("abcde"), metadata=[{"n": i} for i in range(5)])
    docs.delete(ids=["a"])
    docs.delete(filter={"n": {"$gte": 3}})
    assert sorted(docs.ids()) == ["b", "c"]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_streaming_add_keeps_memory_flat(gemini_emulator: GeminiEmulator) -> None:
    # 3072-dim vectors make a leak loud: holding every vector of 8,000 items would take 98 MB
    emb = gv.Embedder(dimensions=3072, client=gemini_emulator.client())
    samples: list[int] = []

    sink = CountingCollection(emb.spec, on_upsert=lambda _: samples.append(_rss_bytes()))
    gv.Collection(sink, emb, chunk_size=500).add(f"streamed item {i} w{i % 97}" for i in range(8_000))
    assert sink.written == 8_000
    # past the warm-up (the first quarter), a leak would add ~74 MB; the steady state wobbles by <10 MB
    growth = max(samples) - samples[len(samples) // 4]
    assert growth < 30 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB after warm-up"


def test_an_unreadable_file_is_named_by_its_place(
    docs: gv.Collection, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "gone.png"
    path.write_bytes(png())
    image = gv.Image(path)
    path.unlink()
    for items in (["a text", image], iter(["a text", image])):  # checked whole, or chunk by chunk
        with pytest.raises(ContentError, match=r"^item 1: cannot read Image") as info:
            docs.add(items)
        assert info.value.index == 1 and info.value.limit == "readable"
    assert docs.count() == 0 and gemini_emulator.stats.embed_calls == 0


def test_a_metadata_change_between_true_1_and_1_0_on_unchanged_content_is_written(
    docs: gv.Collection, gemini_emulator: GeminiEmulator
) -> None:
    docs.add(["same text"], ids=["b"], metadata=[{"k": True, "tags": ["x"]}])
    gemini_emulator.stats.reset()
    for value in (1.0, 1, True):
        docs.add(["same text"], ids=["b"], metadata=[{"k": value, "tags": ["x"]}])
        stored = docs.get(["b"])[0].metadata["k"]
        assert type(stored) is type(value) and stored == value
    assert gemini_emulator.stats.total_calls == 0  # metadata only: nothing embedded again
    assert [m.id for m in docs.search("same text", k=5, filter={"k": {"$eq": True}})] == ["b"]


@pytest.mark.parametrize(
    ("ids", "metadata", "named"),
    [
        (["ok", "\ud800"], None, r"item 1: id '\\ud800' holds a lone surrogate"),
        (["ok", "two"], [{}, {"k\udfff": "v"}], r"metadata of item 1: key 'k\\udfff' holds a lone surrogate"),
        (["ok", "two"], [{}, {"k": "v\ud800"}], r"metadata of item 1: 'k' value 'v\\ud800' holds a lone"),
        (["ok", "two"], [{}, {"k": ["a", "\ud800"]}], r"metadata of item 1: .k. value .\\ud800. holds"),
    ],
)
def test_a_lone_surrogate_in_an_id_or_metadata_is_refused_before_anything_is_paid_or_written(
    docs: gv.Collection, gemini_emulator: GeminiEmulator, ids: list[str], metadata: Any, named: str
) -> None:
    with pytest.raises(MetadataError, match=named):
        docs.add(["fine", "also fine"], ids=ids, metadata=metadata)
    assert gemini_emulator.stats.total_calls == 0
    assert docs.count() == 0
