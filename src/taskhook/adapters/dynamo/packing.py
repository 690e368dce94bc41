"""Large text attributes of a task row stored compressed: what DynamoDB bills is the item's size.

Every write of a task (the claim, each retry, the finish, the delivery log's bookkeeping) is billed
on the larger of the item's old and new size, per started kilobyte, and so is its copy in each index
that projects it. A request body (`body`), a function task's arguments (`args`) and a result
(`result`) are most of a task's bytes, and JSON compresses well: a 1 KB JSON body and a 1 KB answer
keep the item under 1 KB where it took 3. The compressed form goes in a Binary attribute of its own
(`bodyZ`, `argsZ`, `resultZ`, zlib), so rows written before it, whose `body` is a String, read as
they always did, and a value that does not shrink by at least 10 % stays as it was.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping, MutableMapping
from typing import Any

# attribute -> whether its value is JSON (stored as a JSON string when not packed, JSON_ATTRIBUTES)
PACKED = {"body": False, "args": True, "result": True}
SUFFIX = "Z"
MIN_PACKED_BYTES = 128  # smaller values are stored as they are: the saving would not pay for the name
LEVEL = 6


def packed_name(name: str) -> str:
    return name + SUFFIX


def pack(text: str) -> bytes | None:
    """`text` compressed, or None when it is small or does not shrink by at least 10 %."""
    raw = text.encode("utf-8")
    if len(raw) < MIN_PACKED_BYTES:
        return None
    packed = zlib.compress(raw, LEVEL)
    return packed if len(packed) + len(SUFFIX) <= 0.9 * len(raw) else None


def unpack(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


def pack_fields(fields: MutableMapping[str, Any]) -> None:
    """In place, on the fields of a write: each PACKED value that compresses well moves to its packed
    attribute (the plain one set to None, which an update removes); a value that stays plain, or None,
    clears the packed one, so a row never holds both."""
    for name, is_json in PACKED.items():
        if name not in fields:
            continue
        value = fields[name]
        packed = None
        if value is not None:
            packed = pack(json.dumps(value) if is_json else str(value))
        if packed is not None:
            fields[name] = None
        fields[packed_name(name)] = packed


def unpack_fields(data: MutableMapping[str, Any]) -> None:
    """In place, on a read row or a stream image: each packed attribute back under its plain name,
    decoded as the plain attribute would be (JSON for args and result)."""
    for name, is_json in PACKED.items():
        packed = data.pop(packed_name(name), None)
        if packed is None:
            continue
        raw = packed.value if hasattr(packed, "value") else packed
        # a row read through PynamoDB gives bytes; a stream image in a Lambda event, base64 text
        text = unpack(base64.b64decode(raw) if isinstance(raw, str) else bytes(raw))
        data[name] = json.loads(text) if is_json else text


def packed_attributes(item: Mapping[str, Any]) -> dict[str, Any]:
    """The packed attributes of `item` (for tests and the capacity figures)."""
    return {k: v for k, v in item.items() if k in {packed_name(n) for n in PACKED}}
