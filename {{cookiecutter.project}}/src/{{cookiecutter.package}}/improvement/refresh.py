"""Refresh: labelled production records from the prediction log and feedback, checked, for retraining.

Feedback is untrusted. A labelled record is quarantined, with its reason, when its label is not a
known class (or not a finite number for a regressor), an input breaks the schema's rules (the
same ranges the service accepts) or was not logged in the clear (dropped or hashed), one input
carries conflicting labels, or its feedback source sent more than `retrain.data.max_labels_per_source`
labels in the window (a flood). A record identical to a holdout record is excluded (the holdout
is never trained on), so is one the training data already holds; repeats count once.
`inputs`, the drift reference the retraining may propose, is every logged input from the recent
window's start, less the requests whose labels were quarantined.

What is accepted is split by time: the newest `retrain.data.recent_share` is the recent window,
which judges champion and challenger and never trains; the rest joins the training data, and so
does the previous retraining's recent window, older now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core import paths
from ..core.artifacts import write_table
from ..core.schema import Schema
from ..monitoring.logs import LiveData
from ..serving.predictor import MAX_TEXT, RANGE_SLACK

KINDS = ("flood", "label", "input", "conflict")
TOP_REASONS = 20  # distinct reasons the plan lists (quarantine.csv holds every row's)


@dataclass(frozen=True)
class Known:
    """The records the project holds already: the holdout, the original train set, earlier production ones."""

    holdout: pd.DataFrame
    train: pd.DataFrame
    production: pd.DataFrame
    recent: pd.DataFrame


@dataclass(frozen=True)
class Refreshed:
    """The production data for one retraining, and what was refused."""

    train: pd.DataFrame  # every production record that trains: schema columns and the target
    recent: pd.DataFrame  # the recent window: judges, never trains
    inputs: pd.DataFrame  # every logged input since the recent window began: a drift reference
    quarantine: pd.DataFrame  # request_id, index, time, source, reason, label and the inputs
    counts: dict[str, Any]


def fingerprints(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    """One hash per record of its inputs (numbers to 9 decimals), to find the same record twice."""
    if frame.empty:
        return pd.Series(dtype="uint64")
    typed = schema.coerce(frame)
    for name in schema.numeric:
        typed[name] = typed[name].round(9)
    return pd.util.hash_pandas_object(typed, index=False)


def input_problems(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    """Per record, the first input that breaks the schema's rules ('' when none)."""
    problems = pd.Series("", index=frame.index, dtype=object)
    for feature in schema.features:
        if feature.name not in frame.columns:
            problems[problems == ""] = f"input {feature.name!r} was not logged (MODELOPS_LOG_DROP)"
            continue
        column = frame[feature.name]
        if feature.numeric:
            values = pd.to_numeric(column, errors="coerce")
            text = values.isna() & column.notna()  # a number logged as text: hashed by the service
            problems[(problems == "") & text] = f"input {feature.name!r} is hashed in the log (MODELOPS_LOG_HASH)"
            low, high = float(feature.min or 0.0), float(feature.max or 0.0)
            slack = RANGE_SLACK * ((high - low) or 1.0)
            outside = values.notna() & (~np.isfinite(values) | (values < low - slack) | (values > high + slack))
            problems[(problems == "") & outside] = (
                f"input {feature.name!r} outside the schema's accepted range {low - slack:g} to {high + slack:g}"
            )
        else:
            long = column.notna() & (column.astype(str).str.len() > MAX_TEXT)
            problems[(problems == "") & long] = f"input {feature.name!r} longer than {MAX_TEXT} characters"
    return problems


def label_problems(labels: pd.Series, schema: Schema) -> pd.Series:
    """Per record, why its label cannot train the model ('' when it can)."""
    if schema.classification:
        classes = list(schema.target.classes)
        kinds = {type(c) for c in classes}
        bad = [not (type(v) in kinds and v in classes) for v in labels]
        known = ", ".join(json.dumps(c) for c in classes)
        text = [
            f"label {json.dumps(v, default=str)} is not a known class ({known})" if b else ""
            for v, b in zip(labels, bad, strict=True)
        ]
        return pd.Series(text, index=labels.index, dtype=object)
    values = pd.to_numeric(labels, errors="coerce")
    bad = ~np.isfinite(values.fillna(np.nan))
    return pd.Series(np.where(bad, "label is not a finite number", ""), index=labels.index, dtype=object)


def refresh(live: LiveData, schema: Schema, known: Known, settings: dict[str, Any]) -> Refreshed:
    """Check, deduplicate and split the labelled records of `live` (see the module's docstring)."""
    columns, target = schema.names, schema.target.name
    labelled = live.labelled().sort_values(["time", "request_id", "index"], kind="stable").reset_index(drop=True)
    reasons = pd.Series("", index=labelled.index, dtype=object)
    kinds = pd.Series("", index=labelled.index, dtype=object)

    def refuse(mask: pd.Series, kind: str, text: pd.Series | str) -> None:
        fresh = mask & (reasons == "")
        reasons[fresh] = text[fresh] if isinstance(text, pd.Series) else text
        kinds[fresh] = kind

    cap = int(settings.get("max_labels_per_source", 1000))
    per_source = labelled["source"].value_counts()
    for source, count in per_source[per_source > cap].items():
        refuse(
            labelled["source"] == source,
            "flood",
            f"flood: source {source!r} sent {count} labels in the window (> retrain.data.max_labels_per_source {cap})",
        )
    labels = label_problems(labelled["label"], schema)
    refuse(labels != "", "label", labels)
    inputs = input_problems(labelled, schema)
    refuse(inputs != "", "input", inputs)

    ok = reasons == ""
    prints = fingerprints(labelled[ok], schema).reindex(labelled.index)
    label_text = labelled["label"].map(lambda v: json.dumps(v, default=str))
    per_input = pd.DataFrame({"print": prints[ok], "label": label_text[ok]}).groupby("print")["label"].nunique()
    conflicting = prints.isin(per_input[per_input > 1].index) & ok
    refuse(conflicting, "conflict", "conflicting labels for one input")

    ok = reasons == ""
    in_holdout = ok & prints.isin(set(fingerprints(known.holdout, schema)))
    held = set(fingerprints(known.train, schema)) | set(fingerprints(known.production, schema))
    held |= set(fingerprints(known.recent, schema))
    in_training = ok & ~in_holdout & prints.isin(held)
    fresh = ok & ~in_holdout & ~in_training
    repeated = fresh & prints.duplicated()
    accepted = labelled[fresh & ~repeated].assign(**{target: lambda f: f["label"]})

    share = float(settings.get("recent_share", 0.5))
    n_recent = int(round(share * len(accepted)))
    recent = accepted.tail(n_recent)
    new_train = accepted.head(len(accepted) - n_recent)
    train = pd.concat(
        [known.production, known.recent, new_train.reindex(columns=[*columns, target])], ignore_index=True
    )
    untrusted = set(labelled.loc[reasons != "", "request_id"])  # a refused label taints its whole request
    window_inputs = live.records[~live.records["request_id"].isin(untrusted)]
    if len(recent):
        window_inputs = window_inputs[window_inputs["time"] >= recent["time"].min()]
    window_inputs = window_inputs[input_problems(window_inputs, schema) == ""] if len(window_inputs) else window_inputs

    quarantined = labelled[reasons != ""].assign(reason=reasons[reasons != ""])
    quarantine = quarantined.reindex(columns=["request_id", "index", "time", "source", "reason", "label", *columns])
    counts = {
        "labelled": len(labelled),
        "quarantined": {kind: int((kinds == kind).sum()) for kind in KINDS},
        "quarantined_total": int((reasons != "").sum()),
        "reasons": {str(k): int(v) for k, v in reasons[reasons != ""].value_counts().head(TOP_REASONS).items()},
        "excluded": {
            "in_holdout": int(in_holdout.sum()),
            "in_training_data": int(in_training.sum()),
            "repeated": int(repeated.sum()),
        },
        "accepted": len(accepted),
        "recent": len(recent),
        "new_train": len(new_train),
        "previous_recent_to_train": len(known.recent),
        "production_train": len(train),
        "recent_inputs": len(window_inputs),
        "sources": {str(k): int(v) for k, v in per_source.sort_index().items()},
        "recent_window": {"start": _iso(recent["time"].min()), "end": _iso(recent["time"].max())}
        if len(recent)
        else None,
    }
    return Refreshed(
        train=train.reset_index(drop=True),
        recent=recent.reindex(columns=[*columns, target]).reset_index(drop=True),
        inputs=window_inputs.reindex(columns=columns).reset_index(drop=True),
        quarantine=quarantine.reset_index(drop=True),
        counts=counts,
    )


def read_known(schema: Schema, production_rows: int) -> Known:
    """The holdout, the original train set (train.csv less its production rows) and earlier production data."""
    train = schema.read_split(paths.TRAIN)
    return Known(
        holdout=schema.read_split(paths.TEST),
        train=train.head(len(train) - production_rows),
        production=_read(paths.PRODUCTION_TRAIN, schema),
        recent=_read(paths.PRODUCTION_RECENT, schema),
    )


def write(refreshed: Refreshed, folder: Path = paths.PRODUCTION) -> None:
    """The four files of `data/production/` (header-only when empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / paths.PRODUCTION_TRAIN.name, refreshed.train)
    write_table(folder / paths.PRODUCTION_RECENT.name, refreshed.recent)
    write_table(folder / paths.PRODUCTION_INPUTS.name, refreshed.inputs)
    quarantine = refreshed.quarantine.assign(time=refreshed.quarantine["time"].map(_iso))
    write_table(folder / paths.QUARANTINE.name, quarantine)


def _read(path: Path, schema: Schema) -> pd.DataFrame:
    columns = [*schema.names, schema.target.name]
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=columns)
    return schema.read_split(path)[columns]


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")) if pd.notna(value) else ""
