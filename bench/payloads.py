"""Realistic JSON documents of an exact size (UTF-8 bytes): the bench's request bodies and the
target's answers. An order-like document (ids, names, numbers, nested objects, lists), padded to
the byte with a note field; never a run of one repeated character."""

from __future__ import annotations

import json
from functools import lru_cache

_NAMES = ("Espresso beans 1 kg", "Ceramic pour-over dripper", "Paper filters (100)", "Burr grinder",
          "Gooseneck kettle 0.9 l", "Digital scale", "Travel mug 350 ml", "Cold brew bottle")
_WORDS = ("delivery window confirmed by the warehouse; the carrier collects before noon and the "
          "customer is notified by email and text message once the parcel leaves the depot. ")


def _item(n: int) -> dict[str, object]:
    return {"sku": f"SKU-{10_000 + n * 37:05d}", "name": _NAMES[n % len(_NAMES)], "quantity": n % 4 + 1,
            "unitPrice": round(4.5 + (n * 7.25) % 90, 2), "currency": "EUR",
            "attributes": {"warehouse": f"AMS-{n % 3 + 1}", "fragile": n % 5 == 0}}


@lru_cache(maxsize=8)
def json_document(size: int, kind: str = "answer") -> str:
    """A JSON object of exactly `size` bytes (at least 200)."""
    if size < 200:
        raise ValueError("a document is at least 200 bytes")
    doc: dict[str, object] = {"id": "ord_7Hq2xK9mPz4Lw8Rb", "kind": kind, "status": "accepted",
                              "customer": {"id": "cus_3Fj8sD2kQ9", "country": "NL", "tier": "gold"},
                              "createdAt": "2026-12-01T10:00:00.000Z", "items": [], "note": ""}
    items: list[dict[str, object]] = doc["items"]  # type: ignore[assignment]
    while True:
        items.append(_item(len(items)))
        if len(json.dumps(doc)) > size:
            items.pop()
            break
    room = size - len(json.dumps(doc))
    doc["note"] = (_WORDS * (room // len(_WORDS) + 1))[:room]
    text = json.dumps(doc)
    assert len(text.encode()) == size, (len(text), size)
    return text
