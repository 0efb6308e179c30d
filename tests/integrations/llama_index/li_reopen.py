"""What a LlamaIndex index over a gemini-vectors store answers, here or in a process of its own.

``answers(index, queries)`` is called on the index a test built; run as a script (``python li_reopen.py
JSON``), this module reopens that index from nothing but the store's URL, the collection name and the
embedding settings, and prints the same answers as JSON. The Gemini client comes from the environment
(the test points it at the emulator).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

# the queries both sides ask: (text, filters as [key, operator, value] triples, condition, k)
QUERIES: list[dict[str, Any]] = [
    {"text": "a sleeping cat", "filters": None, "condition": "and", "k": 5},
    {"text": "a sleeping cat", "filters": [["lang", "==", "en"]], "condition": "and", "k": 5},
    {"text": "animals", "filters": [["year", ">=", 2024], ["lang", "==", "de"]], "condition": "or", "k": 5},
]


def filters_of(query: dict[str, Any]) -> MetadataFilters | None:
    if not query["filters"]:
        return None
    return MetadataFilters(
        filters=[MetadataFilter(key=k, operator=op, value=v) for k, op, v in query["filters"]],
        condition=query["condition"],
    )


def answers(index: VectorStoreIndex, queries: list[dict[str, Any]] = QUERIES) -> list[list[dict[str, Any]]]:
    """For each query, the retrieved nodes: id, type, source document, text, metadata and score."""
    out = []
    for query in queries:
        retriever = index.as_retriever(similarity_top_k=query["k"], filters=filters_of(query))
        out.append(
            [
                {
                    "id": hit.node.node_id,
                    "type": hit.node.class_name(),
                    "ref_doc_id": hit.node.ref_doc_id,
                    "text": hit.node.get_content(),
                    "metadata": hit.node.metadata,
                    "score": round(float(hit.score or 0.0), 5),
                }
                for hit in retriever.retrieve(query["text"])
            ]
        )
    return out


def main(raw: str) -> None:
    import gemini_vectors as gv
    from gemini_vectors.llama_index import GeminiEmbedding, GeminiVectorStore

    args = json.loads(raw)
    emb = GeminiEmbedding(dimensions=args["dimensions"])
    store = gv.connect(args["url"], **args["options"])
    vs = GeminiVectorStore(store, args["collection"], embed_model=emb)
    index = VectorStoreIndex.from_vector_store(vs, embed_model=emb)
    print(json.dumps(answers(index)))
    store.close()


if __name__ == "__main__":
    main(sys.argv[1])
