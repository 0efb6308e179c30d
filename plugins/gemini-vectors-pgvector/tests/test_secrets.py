"""A password never shows in a PgVectorStore's url, repr or errors, in whatever form it was given."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

import gemini_vectors as gv
from gemini_vectors_pgvector import PgVectorStore

SECRET = "hunter2XYZ"


def _with_query(url: str, extra: str) -> str:
    return url + ("&" if "?" in url else "?") + extra


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{password}@{host}").geturl()


def _conninfo(url: str, password: str) -> str:
    """``url`` as a libpq key=value string with a password (the test server trusts any)."""
    parts = urlsplit(url)
    pairs = dict(parse_qsl(parts.query))
    pairs.setdefault("host", parts.hostname or "localhost")
    if parts.port:
        pairs["port"] = str(parts.port)
    pairs["user"] = parts.username or "postgres"
    pairs["dbname"] = parts.path.lstrip("/") or "postgres"
    pairs["password"] = password
    return " ".join(f"{k}='{v}'" for k, v in pairs.items())


def _forms(pg_url: str) -> list[str]:
    return [
        _with_query(pg_url, f"password={SECRET}"),
        _with_query(pg_url, f"sslpassword={SECRET}"),
        _with_query(pg_url, f"pass%77ord={SECRET}"),
        _with_password(pg_url, SECRET),
        _with_password(pg_url, "hunter2%40XYZ"),  # percent-encoded: hunter2@XYZ
    ]


def _assert_hidden(text: str) -> None:
    assert "hunter2" not in text, text


def test_the_url_and_repr_hide_the_password_in_every_form(pg_url: str, schema: str) -> None:
    for url in _forms(pg_url):
        store = gv.connect(url, schema=schema)
        try:
            _assert_hidden(store.url)
            _assert_hidden(repr(store))
            _assert_hidden(str(store))
            assert "***" in store.url
            store.open_collection("c", gv.EmbeddingSpec.for_model("gemini-embedding-2", 128))
        finally:
            store.close()


def test_a_conninfo_string_is_redacted_too(pg_url: str, schema: str) -> None:
    store = PgVectorStore(_conninfo(pg_url, SECRET), schema=schema)
    try:
        _assert_hidden(store.url)
        _assert_hidden(repr(store))
        assert "password=***" in store.url
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://user@127.0.0.1:1/db?connect_timeout=2&PASSWORD={SECRET}",  # libpq refuses the name
        f"postgresql://user@127.0.0.1:1/db?connect_timeout=2&password={SECRET}",
        f"postgresql://user@127.0.0.1:1/db?connect_timeout=2&sslpassword={SECRET}",
        "postgresql://user:hunter2%40XYZ@127.0.0.1:1/db?connect_timeout=2",
        f"postgresql://user:{SECRET}@127.0.0.1:1/db?connect_timeout=2",
    ],
)
def test_an_unreachable_server_is_a_store_error_without_the_password(url: str) -> None:
    with pytest.raises(gv.StoreError) as info:
        gv.connect(url)
    _assert_hidden(str(info.value))
    assert "***" in str(info.value)


def test_a_conninfo_that_cannot_connect_is_a_store_error_without_the_password() -> None:
    for conninfo in (
        f"host=127.0.0.1 port=1 connect_timeout=2 password={SECRET}",
        f"host=127.0.0.1 port=1 password='{SECRET} x' bogus_option=1",
    ):
        with pytest.raises(gv.StoreError) as info:
            PgVectorStore(conninfo)
        _assert_hidden(str(info.value))
        _assert_hidden(repr(info.value))
