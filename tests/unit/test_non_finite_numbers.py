"""NaN, Infinity and -Infinity are not JSON (issue 11: a function task's arguments took them and
stored null). Every API body is decoded by decode_json_object, which refuses them; a function's
arguments are also refused by the binding itself, whoever builds them."""

from __future__ import annotations

import math
from typing import Any

import pytest

from taskhook.intake.validation import decode_json_object
from taskhook.model.errors import ValidationFailed
from taskhook.run.functions.arguments import ArgumentsInvalid, bind_arguments


class Context:
    pass


def takes_anything(task: Context, **kwargs: Any) -> None: ...


def takes_a_float(task: Context, x: float, rest: list[float] | None = None) -> None: ...


@pytest.mark.parametrize("raw", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"a": {"b": [1, NaN]}}'])
def test_a_body_with_a_non_finite_number_is_400(raw: str) -> None:
    with pytest.raises(ValidationFailed, match="NaN and Infinity are not JSON numbers"):
        decode_json_object(raw.encode())


def test_large_finite_numbers_are_still_numbers() -> None:
    assert decode_json_object(b'{"x": 1e308, "y": -1.5}') == {"x": 1e308, "y": -1.5}


@pytest.mark.parametrize("function", [takes_anything, takes_a_float])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_arguments_with_a_non_finite_number_are_refused_not_stored_as_null(function: Any, value: float) -> None:
    binding = bind_arguments(function, "ns", "job", Context)
    with pytest.raises(ArgumentsInvalid, match="NaN and Infinity"):
        binding.stored_form({"x": value}, "ns.job")
    with pytest.raises(ArgumentsInvalid, match="NaN and Infinity"):
        binding.stored_form({"x": 1.0, "rest": [value]}, "ns.job")
