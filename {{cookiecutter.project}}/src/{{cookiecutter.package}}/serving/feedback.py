"""Feedback: ground truth for answered requests, checked and stored where the monitor and the retraining read it.

POST /feedback takes one item `{"request_id": "...", "index": 0, "label": ...}` or a batch
`{"items": [item, ...]}`; `index` is the record's position in its request (default 0). It needs a
feedback token (`MODELOPS_FEEDBACK_TOKENS`, one per labelling source, checked by the guard), not
the prediction key. Who labelled is the source whose token sent the request: the server sets it,
and a body naming a `source` is refused (400), so nobody can invent sources or speak for another
(retraining caps what one source may add and lets only trusted sources judge).

Any replica accepts a label for a request any replica answered: the request id is signed
(core/requestids.py) and carries its time and record count, so it is checked without an index.
A batch is all or nothing: the first bad item is named and nothing is written —
400 malformed; 404 a request id this service did not issue (forged, altered, or signed with
another key); 410 a request older than the log's retention (MODELOPS_LOG_RETENTION_DAYS: its
log rows are gone); 422 a label of the wrong type, outside the known classes, not a finite
number, or an index beyond the request; 409 already labelled (the store's primary key refuses it,
across replicas); 503 the store is unreachable (nothing stored; send again).
Accepted labels are committed to the store (core/labels.py) before the 201 answer.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.labels import AlreadyLabelled, Label, LabelStore, StoreUnavailable, open_store
from ..core.requestids import PATTERN, RequestIds
from ..core.settings import SOURCE, Settings

log = logging.getLogger(__name__)


class Item(BaseModel):
    """The ground truth of one predicted record."""

    model_config = ConfigDict(extra="forbid")
    request_id: Annotated[str, Field(pattern=PATTERN, description="from the prediction's answer")]
    index: Annotated[int, Field(ge=0, strict=True)] = 0
    label: str | int | float | bool


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: Annotated[list[Item], Field(min_length=1, max_length=10_000)]

    @model_validator(mode="before")
    @classmethod
    def one_item_is_a_batch_of_one(cls, value: Any) -> Any:
        return {"items": [value]} if isinstance(value, dict) and "items" not in value else value


class Rejected(Exception):
    """Why a feedback request was refused: the HTTP status and a message naming the item."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FeedbackStore:
    """The labels of one service: ids checked by their signature, labels by the model's classes."""

    labels: LabelStore
    ids: RequestIds
    classes: tuple[Any, ...]  # empty for a regressor
    max_age_seconds: float = 30 * 86400  # the log's retention: older requests have no log rows left
    clock: Callable[[], float] = time.time

    @classmethod
    def from_settings(cls, settings: Settings, folder: Path, classes: tuple[Any, ...]) -> FeedbackStore:
        """The store the settings name (PostgreSQL, else SQLite in `folder`), ids signed with their key (else
        the one generated in `folder`), requests accepted for the log's retention."""
        return cls(
            open_store(settings.database_url, folder),
            RequestIds.from_settings(settings, folder),
            classes,
            max_age_seconds=settings.log_retention_days * 86400,
        )

    def parse(self, body: bytes) -> list[Item]:
        try:
            return Batch.model_validate_json(body).items
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            if first["type"] == "extra_forbidden" and first["loc"][-1:] == ("source",):
                raise Rejected(
                    400,
                    f"invalid feedback: {where}: the source is set by the server from your feedback token — drop"
                    " the field (each labelling source has its own token in MODELOPS_FEEDBACK_TOKENS)",
                ) from None
            raise Rejected(400, f"invalid feedback: {where}: {first['msg']}") from None

    def check_label(self, number: int, item: Item) -> str:
        """The label as stored (JSON), or why it is refused."""
        label = item.label
        if self.classes:
            if label not in self.classes or type(label) not in {type(c) for c in self.classes}:
                known = ", ".join(json.dumps(c) for c in self.classes)
                raise Rejected(422, f"item {number}: label {_shown(label)} is not a known class ({known})")
        elif isinstance(label, bool) or not isinstance(label, int | float) or not _finite(label):
            raise Rejected(422, f"item {number}: label {_shown(label)} is not a finite number (a regressor)")
        return json.dumps(label)

    def check_request(self, number: int, item: Item, now: float) -> None:
        """The item names a record of a request this service answered within the retention."""
        issued = self.ids.verify(item.request_id)
        if issued is None:
            raise Rejected(
                404,
                f"item {number}: unknown request_id {item.request_id} (not issued by this service,"
                " or signed with another MODELOPS_SIGNING_KEY)",
            )
        if now - issued.issued > self.max_age_seconds:
            day = datetime.fromtimestamp(issued.issued, UTC).strftime("%Y-%m-%d")
            days = self.max_age_seconds / 86400
            raise Rejected(
                410, f"item {number}: request {item.request_id} was answered on {day}, beyond the {days:g}-day"
                " retention (MODELOPS_LOG_RETENTION_DAYS): its log rows are gone",
            )  # fmt: skip
        if item.index >= issued.records:
            raise Rejected(422, f"item {number}: index {item.index} is beyond the request's {issued.records} records")

    def add(self, body: bytes, source: str) -> int:
        """Check every item, then store them all in one transaction under `source` (the one the
        request's feedback token belongs to); the number stored."""
        if not re.fullmatch(SOURCE, source):
            raise Rejected(401, "feedback refused: the token's source name is not valid")
        items = self.parse(body)
        now = self.clock()
        seen: dict[tuple[str, int], int] = {}
        labels = []
        for number, item in enumerate(items):
            self.check_request(number, item, now)
            label = self.check_label(number, item)
            key = (item.request_id, item.index)
            if key in seen:
                raise Rejected(409, f"item {number}: request {item.request_id} record {item.index} is already"
                               f" labelled (by item {seen[key]} of this batch)")  # fmt: skip
            seen[key] = number
            labels.append(Label(item.request_id, item.index, label, now, source))
        try:
            self.labels.insert(labels)
        except AlreadyLabelled as exc:
            number = min(seen[key] for key in exc.keys) if exc.keys else 0
            item = items[number]
            raise Rejected(
                409, f"item {number}: request {item.request_id} record {item.index} is already labelled"
            ) from None
        except StoreUnavailable as exc:
            log.error("feedback: %s", exc)  # the store's location stays in the service's log, not the answer
            raise Rejected(503, "feedback not stored: the labels store is unavailable — send it again") from None
        return len(items)


def _finite(number: int | float) -> bool:
    """A JSON number a float holds, and finite (an integer such as 10**400 is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _shown(label: Any, limit: int = 80) -> str:
    """The label in a message, cut: a client may send a 1 MB string."""
    text = json.dumps(label)
    return text if len(text) <= limit else f"{text[:limit]}…"
