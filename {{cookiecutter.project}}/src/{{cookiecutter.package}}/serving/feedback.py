"""Feedback: ground truth for answered requests, checked and stored where the monitor reads it.

POST /feedback takes one item `{"request_id": "...", "index": 0, "label": ..., "source": "..."}` or
a batch `{"items": [item, ...]}`; `index` is the record's position in its request (default 0) and
`source` who labelled it (default "unnamed"; retraining caps what one source may add). It needs
the feedback token (`MODELOPS_FEEDBACK_TOKEN`, checked by the guard), not the prediction key.
A batch is all or nothing: the first bad item is named and nothing is written —
400 malformed, 404 unknown request id (not in the prediction log), 409 already labelled,
422 a label of the wrong type or outside the known classes, or an index beyond the request.
Accepted labels are committed to `<monitoring dir>/feedback.sqlite` before the 201 answer.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .predictionlog import connect, utc_iso

REQUEST_ID = r"^[0-9a-f]{32}$"
SOURCE = r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,63}$"


class Item(BaseModel):
    """The ground truth of one predicted record."""

    model_config = ConfigDict(extra="forbid")
    request_id: Annotated[str, Field(pattern=REQUEST_ID, description="from the prediction's answer")]
    index: Annotated[int, Field(ge=0, strict=True)] = 0
    label: str | int | float | bool
    source: Annotated[str, Field(pattern=SOURCE, description="who labelled it: an annotator, a system")] = "unnamed"


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
    """The labels of one service: checked against the prediction log's request index."""

    folder: Path
    classes: tuple[Any, ...]  # empty for a regressor

    def parse(self, body: bytes) -> list[Item]:
        try:
            return Batch.model_validate_json(body).items
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            raise Rejected(400, f"invalid feedback: {where}: {first['msg']}") from None

    def check_label(self, number: int, item: Item) -> str:
        """The label as stored (JSON), or why it is refused."""
        label = item.label
        if self.classes:
            if label not in self.classes or type(label) not in {type(c) for c in self.classes}:
                known = ", ".join(json.dumps(c) for c in self.classes)
                raise Rejected(422, f"item {number}: label {json.dumps(label)} is not a known class ({known})")
        elif isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
            raise Rejected(422, f"item {number}: label {json.dumps(label)} is not a finite number (a regressor)")
        return json.dumps(label)

    def add(self, body: bytes) -> int:
        """Check every item, then store them all in one transaction; the number stored."""
        items = self.parse(body)
        labels = [self.check_label(n, item) for n, item in enumerate(items)]
        now = utc_iso(time.time())
        connection = connect(self.folder)
        try:
            connection.execute("BEGIN IMMEDIATE")  # one writer at a time across workers: no duplicate slips in
            seen: set[tuple[str, int]] = set()
            for number, item in enumerate(items):
                key = (item.request_id, item.index)
                row = connection.execute(
                    "SELECT records FROM requests WHERE request_id = ?", (bytes.fromhex(item.request_id),)
                ).fetchone()
                if row is None:
                    raise Rejected(
                        404, f"item {number}: unknown request_id {item.request_id} (not in the prediction log)"
                    )
                if item.index >= row[0]:
                    raise Rejected(422, f"item {number}: index {item.index} is beyond the request's {row[0]} records")
                labelled = connection.execute("SELECT 1 FROM feedback WHERE request_id = ? AND idx = ?", key).fetchone()
                if labelled or key in seen:
                    raise Rejected(
                        409, f"item {number}: request {item.request_id} record {item.index} is already labelled"
                    )
                seen.add(key)
            connection.executemany(
                "INSERT INTO feedback (request_id, idx, label, time, source) VALUES (?, ?, ?, ?, ?)",
                [(i.request_id, i.index, label, now, i.source) for i, label in zip(items, labels, strict=True)],
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return len(items)
