"""Validate a /v1/models response body into a catalog, all or nothing.

A partially accepted catalog would look like removals downstream, so any invalid model makes
the whole pull invalid; the raw body is archived regardless.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

KNOWN_FIELDS = frozenset({"id", "name", "cost", "context_window", "max_output_tokens"})
KNOWN_COST_FIELDS = frozenset({"input_cost_per_micro_credit", "output_cost_per_micro_credit"})
# what list envelopes say when more pages follow (OpenAI's has_more, common cursor names)
PAGE_MARKERS = ("has_more", "next", "next_cursor", "next_page", "next_page_token")


class InvalidCatalog(ValueError):
    """The body is not a catalog we can trust; the message says where and why."""


@dataclass(frozen=True)
class Model:
    model_id: str
    name: str | None
    input_cost: float
    output_cost: float
    context_window: int | None
    max_output_tokens: int | None
    extra_json: str | None


@dataclass(frozen=True)
class Catalog:
    models: tuple[Model, ...]
    warnings: tuple[str, ...] = ()


def parse_catalog(body: bytes) -> Catalog:
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise InvalidCatalog("response body is not UTF-8 text") from None
    except RecursionError:
        raise InvalidCatalog("response JSON is nested too deeply to be a catalog") from None
    except json.JSONDecodeError as exc:
        raise InvalidCatalog(f"response body is not JSON ({exc.msg}: line {exc.lineno} column {exc.colno}){_looks_like(body)}") from None
    except ValueError:  # Python reads no integer of over 4300 digits (sys.get_int_max_str_digits)
        raise InvalidCatalog("response JSON holds an integer too long to read (over 4300 digits)") from None
    if isinstance(document, dict) and "data" in document:
        _whole_list(document)
        document = document["data"]
    if not isinstance(document, list):
        raise InvalidCatalog(f"response JSON is a {type(document).__name__}, expected a list of models or {{\"data\": [...]}}")
    by_id: dict[str, tuple[Any, Model]] = {}
    warnings: list[str] = []
    for position, item in enumerate(document):
        model = _model(item, position)
        seen = by_id.get(model.model_id)
        if seen is None:
            by_id[model.model_id] = (item, model)
        elif _same(seen[0], item):
            warnings.append(f"model {model.model_id!r} is listed twice with identical content; kept once")
        else:
            raise InvalidCatalog(f"model {model.model_id!r} is listed twice with different content")
    return Catalog(tuple(model for _, model in by_id.values()), tuple(warnings))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: true is not 1 (Python's == says it is, and the second entry's value would
    be dropped unseen), while 1 and 1.0 are one number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _whole_list(envelope: dict[str, Any]) -> None:
    """An envelope that says more pages follow holds part of the catalog: taken for the whole, the
    rest would look removed."""
    more = [key for key in PAGE_MARKERS if envelope.get(key) not in (None, False, "", [])]
    if more:
        raise InvalidCatalog(f"response is one page of a longer list ({', '.join(more)} set): a partial catalog would fake removals")


def _model(item: Any, position: int) -> Model:
    where = f"model #{position}"
    if not isinstance(item, dict):
        raise InvalidCatalog(f"{where} is a {type(item).__name__}, expected an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidCatalog(f"{where} has no non-empty string id")
    where = f"model {model_id!r}"
    _require_text(model_id, where, "id")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidCatalog(f"{where}: name must be a string, got {_kind(name)}")
    if name is not None:
        _require_text(name, where, "name")
    cost = item.get("cost")
    if not isinstance(cost, dict):
        raise InvalidCatalog(f"{where}: cost must be an object with input and output rates")
    extra = {key: value for key, value in item.items() if key not in KNOWN_FIELDS}
    cost_extra = {key: value for key, value in cost.items() if key not in KNOWN_COST_FIELDS}
    if cost_extra:
        extra["cost"] = cost_extra
    return Model(
        model_id=model_id,
        name=name,
        input_cost=_rate(cost, "input_cost_per_micro_credit", where),
        output_cost=_rate(cost, "output_cost_per_micro_credit", where),
        context_window=_limit(item, "context_window", where),
        max_output_tokens=_limit(item, "max_output_tokens", where),
        extra_json=json.dumps(extra, sort_keys=True, separators=(",", ":")) if extra else None,
    )


def _require_text(value: str, where: str, field: str) -> None:
    """JSON can escape half of a UTF-16 pair (\\ud800) where no character is: such a string cannot
    be stored as text, and would stop the archiving of the pull halfway."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCatalog(f"{where}: {field} holds a lone UTF-16 surrogate escape, which is not text") from None


def _rate(cost: dict[str, Any], key: str, where: str) -> float:
    value = cost.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidCatalog(f"{where}: cost.{key} must be a number, got {_kind(value)}")
    try:
        rate = float(value)
    except OverflowError:
        rate = math.inf
    if not math.isfinite(rate) or rate < 0:
        raise InvalidCatalog(f"{where}: cost.{key} must be finite and non-negative, got {_kind(value)}")
    return rate


def _limit(item: dict[str, Any], key: str, where: str) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidCatalog(f"{where}: {key} must be a non-negative integer or null, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    text = json.dumps(value) if isinstance(value, int | float | str | bool) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _looks_like(body: bytes) -> str:
    head = body[:200].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "; it looks like an HTML page"
    if not body.strip():
        return "; the body is empty"
    return ""
