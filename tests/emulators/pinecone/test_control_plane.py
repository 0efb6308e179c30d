"""Control plane of the emulator, driven by the official SDK (and raw HTTP where the SDK refuses)."""

from __future__ import annotations

import time

import httpx
import pytest
from pinecone import Pinecone
from pinecone.errors.exceptions import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError

from .conftest import dense_schema
from .server import PineconeEmulator


def test_create_describe_list_delete(pc: Pinecone, emu: PineconeEmulator) -> None:
    model = pc.indexes.create(
        name="cp-basic",
        schema=dense_schema(8),
        deployment={"deployment_type": "managed", "cloud": "gcp", "region": "us-central1"},
        tags={"team": "search"},
        timeout=-1,
    )
    assert model.name == "cp-basic"
    assert model.status.ready and model.status.state == "Ready"
    assert model.host == emu.index_host("cp-basic")
    assert (model.dimension, model.metric) == (8, "cosine")
    assert model.deployment.cloud == "gcp"
    assert model.deletion_protection == "disabled"
    assert model.tags == {"team": "search"}

    described = pc.indexes.describe("cp-basic")
    assert described.host == model.host and described.tags == {"team": "search"}
    assert "cp-basic" in [i.name for i in pc.indexes.list()]
    assert pc.indexes.exists("cp-basic")

    pc.indexes.delete("cp-basic", timeout=5)
    assert not pc.indexes.exists("cp-basic")
    with pytest.raises(NotFoundError):
        pc.indexes.describe("cp-basic")
    assert [r.endpoint for r in emu.requests][:2] == ["create_index", "describe_index"]
    assert {r.api_version for r in emu.requests} == {"2026-07"}


def test_duplicate_name_conflicts(pc: Pinecone) -> None:
    pc.indexes.create(name="cp-dup", schema=dense_schema(4), timeout=-1)
    try:
        with pytest.raises(ConflictError):
            pc.indexes.create(name="cp-dup", schema=dense_schema(4), timeout=-1)
    finally:
        pc.indexes.delete("cp-dup", timeout=-1)


def test_configure_tags_merge_and_deletion_protection(pc: Pinecone) -> None:
    pc.indexes.create(name="cp-conf", schema=dense_schema(4), tags={"a": "1", "b": "2"}, timeout=-1)
    model = pc.indexes.configure("cp-conf", tags={"a": "", "c": "3"}, deletion_protection="enabled")
    assert model.tags == {"b": "2", "c": "3"}
    assert model.deletion_protection == "enabled"
    with pytest.raises(ForbiddenError):
        pc.indexes.delete("cp-conf", timeout=-1)
    assert pc.indexes.exists("cp-conf")
    pc.indexes.configure("cp-conf", deletion_protection="disabled")
    pc.indexes.delete("cp-conf", timeout=-1)
    assert not pc.indexes.exists("cp-conf")


def test_index_becomes_ready_after_the_delay(pc: Pinecone, emu: PineconeEmulator) -> None:
    emu.ready_delay = 0.3
    try:
        model = pc.indexes.create(name="cp-slow", schema=dense_schema(4), timeout=-1)
    finally:
        emu.ready_delay = 0.0
    assert not model.status.ready and model.status.state == "Initializing"
    idx = pc.index(host=model.host or "")
    time.sleep(0.35)
    assert pc.indexes.describe("cp-slow").status.ready
    assert idx.describe_index_stats().total_vector_count == 0
    pc.indexes.delete("cp-slow", timeout=-1)


def test_server_enforces_index_name_rules(raw: httpx.Client) -> None:
    for bad in ("a" * 46, "Upper", "-lead", "trail-", "under_score", ""):
        answer = raw.post("/indexes", json={"name": bad, "schema": dense_schema(4)})
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["code"] == "INVALID_ARGUMENT"
    ok = raw.post("/indexes", json={"name": "a" * 45, "schema": dense_schema(4)})
    assert ok.status_code == 201
    assert raw.delete("/indexes/" + "a" * 45).status_code == 202


def test_server_validates_schema_and_tags(raw: httpx.Client) -> None:
    bad_bodies = [
        {"name": "x1", "schema": {"fields": {}}},
        {"name": "x1", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 20001}}}},
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 4, "metric": "l1"}}},
        },
        {"name": "x1", "schema": dense_schema(4), "tags": {"bad key": "v"}},
        {"name": "x1", "schema": dense_schema(4), "tags": {"k": "v" * 121}},
        {"name": "x1", "schema": dense_schema(4), "tags": {f"k{i}": "v" for i in range(21)}},
    ]
    for body in bad_bodies:
        answer = raw.post("/indexes", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["status"] == 400
    assert raw.get("/indexes/x1").status_code == 404


def test_authentication_and_api_version(emu: PineconeEmulator) -> None:
    with pytest.raises(UnauthorizedError):
        list(Pinecone(api_key="wrong-key", host=emu.url).indexes.list())
    answer = httpx.get(emu.url + "/indexes", headers={"Api-Key": emu.api_key})
    assert answer.status_code == 400
    assert "2026-07" in answer.json()["error"]["message"]
    answer = httpx.get(
        emu.url + "/indexes", headers={"Api-Key": emu.api_key, "X-Pinecone-Api-Version": "2025-01"}
    )
    assert answer.status_code == 400


def test_document_index_refuses_the_vector_api(pc: Pinecone) -> None:
    schema = {
        "fields": {
            "embedding": {"type": "dense_vector", "dimension": 4, "metric": "cosine"},
            "body": {"type": "string", "full_text_search": {"language": "en"}},
        }
    }
    model = pc.indexes.create(name="cp-docs", schema=schema, timeout=-1)
    assert model.schema.fields["embedding"].dimension == 4
    idx = pc.index(host=model.host or "")
    with pytest.raises(Exception, match="documents"):
        idx.upsert(vectors=[("a", [1.0, 0.0, 0.0, 0.0])])
    pc.indexes.delete("cp-docs", timeout=-1)
