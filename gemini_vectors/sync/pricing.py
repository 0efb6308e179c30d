"""Prices of the Gemini embedding models, and token and cost estimates by modality for ``--dry-run``.

The price table is the one place that holds prices. They change; :data:`PRICES_AS_OF` and
:data:`PRICES_SOURCE` say where they come from, and :func:`estimate_cost` labels every estimate with them.

Token counts are estimates made before anything is sent (:func:`gemini_vectors.content.check_item`): text at
the larger of ``ceil(utf-8 bytes / 3)`` and its words and punctuation marks (an over-estimate), media at
the rates Google publishes for its generative models (258 tokens per image tile, PDF page and video
second, 32 per audio second). Google bills embedding input by these token counts per modality; a PDF page
is billed as an image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gemini_vectors.content import ItemStats, estimate_tokens
from gemini_vectors.errors import ConfigurationError
from gemini_vectors.spec import Modality, TaskType, apply_task_prefix, get_model

#: When the prices below were last checked (against stored copies of the pages, not the live ones).
PRICES_AS_OF = "2026-05-20"
#: Where they come from. Google's pricing page itself is not in the stored copies; the figures are as
#: tokencost.app quotes it ("straight from Google's pricing page": text $0.20, Batch $0.10; images
#: $0.45 / $0.225; audio $6.50 / $3.25; video $12.00 / $6.00 per 1M tokens), and Google's GA
#: announcement of 2026-04-22 as quoted by yet-another-changelog.ai (text $0.20, Batch API 50% off).
PRICES_SOURCE = (
    "Gemini API pricing, https://ai.google.dev/gemini-api/docs/pricing (second-hand: as quoted by "
    "tokencost.app and the GA announcement; checked 2026-05-20)"
)

#: Batch Mode bills half the online price, for every modality.
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """US dollars per million input tokens of one modality, online and in Batch Mode."""

    online: float
    batch: float


_EMBEDDING_2: Mapping[Modality, Price] = {
    "text": Price(0.20, 0.20 * BATCH_DISCOUNT),
    "image": Price(0.45, 0.45 * BATCH_DISCOUNT),
    "audio": Price(6.50, 6.50 * BATCH_DISCOUNT),
    "video": Price(12.00, 12.00 * BATCH_DISCOUNT),
    # PDF pages are read as images (258 tokens a page) and billed at the image rate.
    "pdf": Price(0.45, 0.45 * BATCH_DISCOUNT),
}

#: USD per 1M tokens by model and modality; a model missing here has no estimate.
PRICE_TABLE: Mapping[str, Mapping[Modality, Price]] = {
    "gemini-embedding-2": _EMBEDDING_2,
    # shut down on 2026-08-10: priced only so that estimates over its collections still add up
    "gemini-embedding-2-preview": _EMBEDDING_2,
    "gemini-embedding-001": {"text": Price(0.15, 0.15 * BATCH_DISCOUNT)},
}


def price_for(model: str, modality: Modality, *, batch: bool = False) -> float:
    """USD per 1M input tokens of ``modality`` for ``model``.

    Raises:
        ConfigurationError: the table has no price for that model and modality.
    """
    key = model.removeprefix("models/")
    try:
        price = PRICE_TABLE[key][modality]
    except KeyError:
        raise ConfigurationError(
            f"no price for {modality} input to {model!r} in gemini_vectors.sync.pricing.PRICE_TABLE "
            f"(prices as of {PRICES_AS_OF})"
        ) from None
    return price.batch if batch else price.online


def prefix_tokens(model: str) -> int:
    """Tokens the document task prefix adds to an item with text (0 for models that take ``taskType``)."""
    if get_model(model).task_mechanism != "prefix":
        return 0
    return estimate_tokens(apply_task_prefix(TaskType.RETRIEVAL_DOCUMENT, "", None))


def item_tokens(stats: ItemStats, model: str) -> dict[Modality, int]:
    """Estimated billed tokens of one checked item by modality, the document task prefix included."""
    tokens: dict[Modality, int] = dict(stats.tokens_by_modality)
    if "text" in tokens:
        tokens["text"] += prefix_tokens(model)
    return tokens


@dataclass(frozen=True)
class CostEstimate:
    """What embedding a set of items would cost.

    Attributes:
        model: The model priced.
        batch: Whether Batch Mode prices were used.
        items: Number of items that would be embedded.
        tokens_by_modality: Estimated input tokens per modality.
        cost_by_modality: Estimated USD per modality.
        prices_as_of: Date of the price table.
        prices_source: Where the prices come from.
    """

    model: str
    batch: bool
    items: int
    tokens_by_modality: Mapping[Modality, int] = field(default_factory=dict)
    cost_by_modality: Mapping[Modality, float] = field(default_factory=dict)
    prices_as_of: str = PRICES_AS_OF
    prices_source: str = PRICES_SOURCE

    @property
    def tokens(self) -> int:
        """All estimated tokens."""
        return sum(self.tokens_by_modality.values())

    @property
    def cost(self) -> float:
        """The estimated total in USD."""
        return sum(self.cost_by_modality.values())

    def lines(self) -> list[str]:
        """A small table for a terminal: one line per modality and a total."""
        mode = "Batch Mode" if self.batch else "online"
        out = [f"{self.items} items to embed with {self.model} ({mode})"]
        out.append(f"  {'modality':<8} {'tokens':>14} {'USD':>12}")
        for modality in sorted(self.tokens_by_modality):
            out.append(
                f"  {modality:<8} {self.tokens_by_modality[modality]:>14,} "
                f"{self.cost_by_modality.get(modality, 0.0):>12.4f}"
            )
        out.append(f"  {'total':<8} {self.tokens:>14,} {self.cost:>12.4f}")
        out.append(f"  prices as of {self.prices_as_of}; source: {self.prices_source}")
        out.append(
            "  token counts are estimates (text: the larger of utf-8 bytes / 3 and words + punctuation, "
            "an over-estimate)"
        )
        return out


def estimate_cost(
    stats: Iterable[ItemStats] | Mapping[Modality, int], model: str, *, batch: bool = False, items: int = 0
) -> CostEstimate:
    """Price items measured by :func:`~gemini_vectors.content.check_item` (or already summed tokens).

    Args:
        stats: One :class:`ItemStats` per item, or the tokens per modality already summed with
            :func:`item_tokens` (then pass ``items``).
        model: The embedding model.
        batch: Price with Batch Mode rates.
        items: The number of items, when ``stats`` is a mapping of tokens.
    """
    tokens: dict[Modality, int] = {}
    if isinstance(stats, Mapping):
        tokens = dict(stats)
        count = items
    else:
        count = 0
        for s in stats:
            count += 1
            for modality, n in item_tokens(s, model).items():
                tokens[modality] = tokens.get(modality, 0) + n
    cost = {m: n * price_for(model, m, batch=batch) / 1_000_000 for m, n in tokens.items()}
    return CostEstimate(model.removeprefix("models/"), batch, count, tokens, cost)
