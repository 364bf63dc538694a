"""List prices of well-known hosted models, for cost caps and cost reports of OpenAI-compatible calls.

USD per million tokens (input, output), OpenAI's standard tier as published on its API pricing page
(checked 2025; prices change: pass ``--price-in`` / ``--price-out``, or a judge's ``--price-*-per-mtok``,
to state them yourself). A price applies only to the exact model name (a dated snapshot has its own
line: gpt-4o-2024-05-13 cost twice gpt-4o-2024-08-06) served at OpenAI's own endpoint: a local
server (llama.cpp, vLLM) answers to any name, so a name alone never prices it. A cost cap whose
model has no price here and none given cannot be enforced, and the commands refuse to start.
"""

from __future__ import annotations

from urllib.parse import urlsplit

OPENAI_HOST = "api.openai.com"

KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00), "gpt-4o-2024-08-06": (2.50, 10.00), "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60), "gpt-4o-mini-2024-07-18": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-2025-04-14": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-mini-2025-04-14": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40), "gpt-4.1-nano-2025-04-14": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00), "gpt-4-turbo-2024-04-09": (10.00, 30.00),
    "gpt-4": (30.00, 60.00), "gpt-4-0613": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50), "gpt-3.5-turbo-0125": (0.50, 1.50),
}


def known_prices(model: str, base_url: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens of ``model`` at ``base_url`` when listed, else None."""
    if (urlsplit(base_url).hostname or "").lower() != OPENAI_HOST:
        return None
    return KNOWN_PRICES.get(model)


def resolve_prices(model: str, base_url: str, given: tuple[float | None, float | None]) -> tuple[float, float] | None:
    """Given prices (both, or neither) win; else the list's; None when the cost cannot be priced.
    Raises ValueError when only one of the two is given."""
    price_in, price_out = given
    if (price_in is None) != (price_out is None):
        raise ValueError("give both prices (input and output, dollars per million tokens) or neither")
    if price_in is not None:
        if price_in < 0 or price_out < 0:
            raise ValueError("prices are dollars per million tokens, >= 0")
        return float(price_in), float(price_out)
    return known_prices(model, base_url)
