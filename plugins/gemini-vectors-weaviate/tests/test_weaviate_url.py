"""URLs, options and secrets of the Weaviate plugin, and its entry point."""

from __future__ import annotations

import gemini_vectors as gv
import pytest
from gemini_vectors.errors import ConfigurationError, StoreError
from gemini_vectors.plugins import list_plugins, store_schemes

from gemini_vectors_weaviate.connection import parse_url
from gemini_vectors_weaviate.naming import check_class_prefix

SECRET = "sk-do-not-print-0123456789"


def test_plugin_serves_its_three_schemes() -> None:
    assert {"weaviate", "weaviates", "weaviate+cloud"} <= set(store_schemes())
    (info,) = [p for p in list_plugins() if p.name == "weaviate"]
    assert info.distribution == "gemini-vectors-weaviate"


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("weaviate://localhost", ("localhost", 8080, False, "localhost", 50051)),
        ("weaviate://db.internal:9000?grpc_port=9001", ("db.internal", 9000, False, "db.internal", 9001)),
        ("weaviates://w.example.com", ("w.example.com", 443, True, "w.example.com", 443)),
        ("weaviates://w.example.com:8443?grpc_host=grpc-w.example.com&grpc_port=443",
         ("w.example.com", 8443, True, "grpc-w.example.com", 443)),
        ("weaviate+cloud://abc.c0.eu.gcp.weaviate.cloud",
         ("abc.c0.eu.gcp.weaviate.cloud", 443, True, "abc.c0.eu.gcp.weaviate.cloud", 443)),
    ],
)  # fmt: skip
def test_urls(url: str, want: tuple[str, int, bool, str, int]) -> None:
    ep = parse_url(url)
    assert (ep.host, ep.http_port, ep.secure, ep.grpc_host, ep.grpc_port) == want
    assert parse_url(ep.safe_url) == ep


def test_options_override_url_parameters() -> None:
    ep = parse_url("weaviate://h?grpc_port=1", grpc_port=2, grpc_host="g")
    assert (ep.grpc_host, ep.grpc_port) == ("g", 2)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("weaviate://", "needs a host"),
        ("weaviate://h:99999", "(?i)port"),
        ("weaviate://h?grpc_port=x", "grpc_port"),
        ("weaviate://h?timeout=3", "unknown parameter"),
        ("weaviate+cloud://c:443", "cluster only"),
        ("http://h", "unsupported scheme"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_url(url)


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url(f"weaviate://user:{SECRET}@host")
    assert SECRET not in str(info.value)


def test_cloud_needs_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEAVIATE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="WEAVIATE_API_KEY"):
        gv.connect("weaviate+cloud://nowhere.invalid")


def test_api_key_never_in_messages_or_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVIATE_API_KEY", SECRET)
    # nothing listens on port 9 of localhost: the connection fails, and the message must not leak
    with pytest.raises(StoreError) as info:
        gv.connect("weaviate://127.0.0.1:9?grpc_port=9", init_timeout=2)
    text = f"{info.value!s} {info.value!r} {info.value.__cause__!s}"
    assert SECRET not in text
    assert "127.0.0.1:9" in str(info.value)


def test_store_repr_has_no_secret(monkeypatch: pytest.MonkeyPatch, weaviate_url: str) -> None:
    monkeypatch.setenv("WEAVIATE_API_KEY", SECRET)
    with gv.connect(weaviate_url) as store:
        assert SECRET not in repr(store) and SECRET not in store.url


def test_unknown_options_and_bad_prefixes() -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        gv.connect("weaviate://localhost", colour="red")
    with pytest.raises(ConfigurationError, match="class_prefix"):
        check_class_prefix("lower")


def test_store_options_in_urls() -> None:
    from gemini_vectors_weaviate.connection import store_options_from_url

    url = "weaviate+cloud://abc.weaviate.cloud?index=mrl:512&ef_search=200&rerank_factor=4"
    assert parse_url(url).host == "abc.weaviate.cloud"  # store options are not endpoint parameters
    assert store_options_from_url(url) == {"index": "mrl:512", "ef_search": 200, "rerank_factor": 4}
    assert store_options_from_url("weaviate://h?grpc_port=1") == {}
    with pytest.raises(ConfigurationError, match="rerank_factor='x' must be a whole number"):
        store_options_from_url("weaviate://h?rerank_factor=x")
