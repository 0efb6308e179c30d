"""redact_url hides a secret in every form a store address takes (guarantee 4)."""

from __future__ import annotations

import pytest

import gemini_vectors as gv
from gemini_vectors.redaction import REDACTED, is_redacted, redact_text, redact_url, url_secrets

SECRET = "hunter2XYZ"

#: (address, text that must stay visible) with SECRET hidden somewhere in it.
FORMS = [
    (f"postgresql://app:{SECRET}@db.example:5432/shop", "postgresql://app:***@db.example:5432/shop"),
    (f"postgresql://app@db/shop?password={SECRET}", "postgresql://app@db/shop?password=***"),
    (f"postgresql://app@db/shop?sslmode=require&PassWord={SECRET}&x=1", "sslmode=require&PassWord=***&x=1"),
    (f"postgresql://app@db/shop?sslpassword={SECRET}", "?sslpassword=***"),
    (f"postgresql://app@db/shop?pass%77ord={SECRET}", "?pass%77ord=***"),
    ("postgresql://app:hunter2%40XYZ@db/shop", "postgresql://app:***@db/shop"),
    (f"postgresql://app:{SECRET}@h1:5432,h2:5433/shop", "postgresql://app:***@h1:5432,h2:5433/shop"),
    (f"postgresql://app:a/{SECRET}@db/shop", "postgresql://app:***@db/shop"),
    (f"postgresql://app@db/shop?a=1;token={SECRET}", "?a=1;token=***"),
    (f"weaviates://host?api_key={SECRET}", "weaviates://host?api_key=***"),
    (f"https://host/x?apikey={SECRET}&key={SECRET}", "?apikey=***&key=***"),
    (f"https://host/x?access_token={SECRET}&client_secret={SECRET}", "access_token=***&client_secret=***"),
    (f"https://host/x#access_token={SECRET}", "#access_token=***"),
    (f"pinecone://idx?host=https://u:{SECRET}@control", "pinecone://idx?host=https://u:***@control"),
    (f"pinecone://idx?host=https%3A%2F%2Fu%3A{SECRET}%40control", "pinecone://idx?host="),
    (f"host=db port=5432 password={SECRET} dbname=shop", "host=db port=5432 password=*** dbname=shop"),
    (f"host=db password = '{SECRET} with blanks' user=app", "host=db password = *** user=app"),
    (f"host=db password='{SECRET}\\' quoted' user=app", "host=db password=*** user=app"),
    (f"host=db sslpassword={SECRET}", "host=db sslpassword=***"),
    (f"host=db password='{SECRET} unterminated", "host=db password=***"),
]


@pytest.mark.parametrize(("address", "visible"), FORMS)
def test_a_secret_never_shows_in_any_form(address: str, visible: str) -> None:
    shown = redact_url(address)
    assert SECRET not in shown and "hunter2" not in shown
    assert visible in shown
    assert REDACTED in shown
    assert redact_url(shown) == shown  # redacting twice changes nothing
    assert is_redacted(shown) and not is_redacted(address)


@pytest.mark.parametrize(
    "address",
    [
        "postgresql://app@db.example:5432/shop?sslmode=require&application_name=x",
        "postgresql+embedded://",
        "postgresql+embedded:// (/home/u/.local/share/gemini-vectors/pg)",
        "memory://",
        "host=db port=5432 dbname=shop user=app",
        "weaviate://localhost:8080?grpc_port=50051",
    ],
)
def test_an_address_without_secret_is_kept_as_given(address: str) -> None:
    assert redact_url(address) == address
    assert not is_redacted(address)


def test_redact_text_removes_the_secrets_a_driver_message_echoes() -> None:
    conninfo = f"host=db password={SECRET}"
    message = f'invalid value "{SECRET}" while connecting to postgresql://a:{SECRET}@db'
    cleaned = redact_text(message, conninfo)
    assert SECRET not in cleaned and "postgresql://a:***@db" in cleaned
    assert SECRET in url_secrets(f"postgresql://a:{SECRET}@db")
    assert redact_text(f"key {SECRET} refused", secrets=[SECRET, None]) == "key *** refused"


@pytest.mark.parametrize("address", [f"memory://?password={SECRET}", f"memory://named?token={SECRET}"])
def test_a_store_url_and_repr_are_redacted(address: str) -> None:
    store = gv.connect(address)
    assert SECRET not in store.url and SECRET not in repr(store) and SECRET not in str(store)
    store.url = f"postgresql://u:{SECRET}@h/db"  # the setter keeps the redacted form only
    assert store.url == "postgresql://u:***@h/db"


def test_a_conninfo_given_to_connect_is_refused_without_its_password() -> None:
    with pytest.raises(gv.UnknownStoreError) as info:
        gv.connect(f"host=db password={SECRET}")
    assert SECRET not in str(info.value) and "password=***" in str(info.value)
