"""adapters/dynamo/packing.py: which task attributes are stored compressed, and that they come back
as they went in, from a row read through PynamoDB (bytes) or a stream image in a Lambda event (base64)."""

from __future__ import annotations

import base64
import json
import random
import string
from typing import Any

from taskhook.adapters.dynamo.packing import MIN_PACKED_BYTES, pack, pack_fields, unpack_fields

ORDER = {"order": {"id": "ord_123", "customer": {"email": "ada@example.com", "country": "GB"},
                   "lines": [{"sku": f"SKU-{i:04d}", "quantity": i % 3 + 1, "price": "19.99"} for i in range(20)]}}


def test_a_json_body_is_packed_and_comes_back_the_same() -> None:
    body = json.dumps(ORDER)
    fields: dict[str, Any] = {"body": body, "status": "pending"}
    pack_fields(fields)
    assert fields["body"] is None  # removed from the row by the write
    assert len(fields["bodyZ"]) < len(body) / 3
    row = {k: v for k, v in fields.items() if v is not None}
    unpack_fields(row)
    assert row == {"body": body, "status": "pending"}


def test_json_attributes_come_back_as_json_even_when_the_value_is_a_string() -> None:
    result: Any = "a function's return value that is one long string " * 10
    fields: dict[str, Any] = {"result": result, "args": ORDER}
    pack_fields(fields)
    assert fields["result"] is None and fields["args"] is None
    unpack_fields(fields)
    assert fields["result"] == result and fields["args"] == ORDER


def test_a_stream_image_carries_the_packed_value_as_base64_text() -> None:
    fields: dict[str, Any] = {"body": json.dumps(ORDER)}
    pack_fields(fields)
    image = {"bodyZ": base64.b64encode(fields["bodyZ"]).decode("ascii")}
    unpack_fields(image)
    assert image == {"body": json.dumps(ORDER)}


def test_small_or_incompressible_values_stay_plain_and_clear_a_packed_one() -> None:
    assert pack("x" * (MIN_PACKED_BYTES - 1)) is None
    chars = string.ascii_letters + string.digits + string.punctuation
    rng = random.Random(7)
    noise = "".join(rng.choice(chars) for _ in range(200))  # zlib: 203 bytes
    fields: dict[str, Any] = {"body": noise, "result": {"ok": True}}
    pack_fields(fields)
    # a write that stores the value plain also removes any packed copy an earlier write left
    assert fields == {"body": noise, "bodyZ": None, "result": {"ok": True}, "resultZ": None}


def test_a_cleared_value_clears_both_attributes() -> None:
    fields: dict[str, Any] = {"result": None}
    pack_fields(fields)
    assert fields == {"result": None, "resultZ": None}


def test_fields_a_write_does_not_name_are_left_alone() -> None:
    fields: dict[str, Any] = {"status": "processing"}
    pack_fields(fields)
    assert fields == {"status": "processing"}
