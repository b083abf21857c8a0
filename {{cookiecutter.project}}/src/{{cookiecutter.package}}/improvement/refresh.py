"""Refresh: labelled production records from the prediction log and feedback, checked, for retraining.

Feedback is untrusted. Its source is the credential that sent it (the service sets it from the
feedback token, never from the body), and a stolen token must not buy a backdoor. A labelled
record is quarantined, with its reason, when its label is not a known class (a regression label:
not a finite number within the training target's range plus `retrain.data.range_slack` of it),
an input lies outside the training range plus that slack, carries a category the training data
never had, or was not logged in the clear (dropped or hashed), or one input carries conflicting
labels. Caps bound what any one source can add: its first `retrain.data.max_labels_per_source`
labels of the window count, later ones are capped; its new training records hold at most
`retrain.data.max_source_share` of the training data they join; and of the judging window when
it holds several sources. Capped records go to quarantine.csv too, with their reason, counted
by source. A record identical to a holdout record is excluded (the holdout is never trained on),
so is one the training data already holds; repeats count once. `inputs`, the drift reference
the retraining may propose, is every logged input from the recent window's start (the log's, when
a curated set judges) within the training range plus the slack, less the requests whose labels
were refused.

Only trusted sources judge (`retrain.data.trusted_sources`): the newest `retrain.data.recent_share`
of their accepted records is the recent window, which judges champion and challenger and never
trains. A curated labelled set (`retrain.data.curated`, a file you keep under DVC) judges instead
when it exists. Everything else accepted joins the training data, and so does the previous
retraining's recent window, older now (a curated set never does).
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

KINDS = ("label", "input", "conflict", "cap")
UNCAPPED = 2**62
TOP_REASONS = 20  # distinct reasons the plan lists (quarantine.csv holds every row's)


@dataclass(frozen=True)
class Known:
    """The records the project holds already: the holdout, the original train set, earlier production ones,
    and the curated labelled set that judges instead of feedback (empty when there is none)."""

    holdout: pd.DataFrame
    train: pd.DataFrame
    production: pd.DataFrame
    recent: pd.DataFrame
    curated: pd.DataFrame | None = None


@dataclass(frozen=True)
class Rules:
    """`retrain.data` of params.yaml, checked."""

    recent_share: float = 0.5
    max_labels_per_source: int = 1000
    max_source_share: float = 0.5
    range_slack: float = 0.5
    trusted_sources: tuple[str, ...] = ()
    curated: str | None = None

    @classmethod
    def from_params(cls, data: dict[str, Any]) -> Rules:
        def share(name: str, default: float) -> float:
            value = float(data.get(name, default))
            if not 0 < value <= 1:
                raise SystemExit(f"error: params.yaml retrain.data.{name}: {value} is not a share in (0, 1]")
            return value

        slack = float(data.get("range_slack", 0.5))
        if not (slack >= 0 and np.isfinite(slack)):
            raise SystemExit(f"error: params.yaml retrain.data.range_slack: {slack} must be a number ≥ 0")
        trusted = data.get("trusted_sources") or []
        if not isinstance(trusted, list) or not all(isinstance(name, str) for name in trusted):
            raise SystemExit("error: params.yaml retrain.data.trusted_sources must be a list of source names")
        return cls(
            recent_share=share("recent_share", 0.5),
            max_labels_per_source=int(data.get("max_labels_per_source", 1000)),
            max_source_share=share("max_source_share", 0.5),
            range_slack=slack,
            trusted_sources=tuple(trusted),
            curated=str(data["curated"]) if data.get("curated") else None,
        )


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


def bounds(low: float, high: float, slack: float) -> tuple[float, float]:
    """A training range widened by `slack` of its width on each side (a point range by `slack`)."""
    margin = slack * ((high - low) or 1.0)
    return low - margin, high + margin


def input_problems(frame: pd.DataFrame, schema: Schema, slack: float | None = None) -> pd.Series:
    """Per record, the first input that cannot train ('' when none): not logged in the clear, longer than
    the service takes, outside the training range plus `slack` of it, or a category the training data
    never had. `slack=None` is what the service accepts (RANGE_SLACK ranges, any category)."""
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
            low, high = bounds(
                float(feature.min or 0.0), float(feature.max or 0.0), RANGE_SLACK if slack is None else slack
            )
            outside = values.notna() & (~np.isfinite(values) | (values < low) | (values > high))
            what = "the schema's accepted range" if slack is None else f"the training range plus {slack:g} of it"
            problems[(problems == "") & outside] = f"input {feature.name!r} outside {what}, {low:g} to {high:g}"
        else:
            long = column.notna() & (column.astype(str).str.len() > MAX_TEXT)
            problems[(problems == "") & long] = f"input {feature.name!r} longer than {MAX_TEXT} characters"
            if slack is not None and feature.categories:
                text = column.map(lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))
                unseen = column.notna() & ~text.isin(feature.categories)
                name = feature.name
                why = text.map(
                    lambda v, name=name: f"input {name!r} is {_cut(v)}, a category the training data never had"
                )
                problems[(problems == "") & unseen] = why[(problems == "") & unseen]
    return problems


def label_problems(labels: pd.Series, schema: Schema, target_range: tuple[float, float] | None = None) -> pd.Series:
    """Per record, why its label cannot train the model ('' when it can); a regression label must lie
    within `target_range` (the training target's range plus the slack) when one is given."""
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
    values = pd.to_numeric(labels, errors="coerce").astype(float)
    problems = pd.Series(np.where(~np.isfinite(values.fillna(np.nan)), "label is not a finite number", ""),
                         index=labels.index, dtype=object)  # fmt: skip
    if target_range is not None:
        low, high = target_range
        outside = (problems == "") & ((values < low) | (values > high))
        problems[outside] = f"label outside the training target's range plus the slack, {low:g} to {high:g}"
    return problems


def first_per_source(frame: pd.DataFrame, allowed: dict[str, int]) -> pd.Series:
    """True for the records past each source's allowance, in the frame's (time) order: the earliest count."""
    rank = frame.groupby("source").cumcount()
    return rank >= frame["source"].map(lambda s: allowed.get(s, len(frame)))


def share_allowance(share: float, others: int) -> int:
    """The most records one source may hold so that they are at most `share` of them plus `others`."""
    return UNCAPPED if share >= 1 else int(np.floor(share / (1 - share) * others + 1e-9))


def judged_by(rules: Rules, curated: bool) -> str:
    """What the recent window holds, as the plan says it."""
    if curated:
        return f"the curated set {rules.curated}"
    return "trusted sources: " + (", ".join(rules.trusted_sources) or "none declared (retrain.data.trusted_sources)")


def refresh(live: LiveData, schema: Schema, known: Known, settings: dict[str, Any]) -> Refreshed:
    """Check, deduplicate, cap and split the labelled records of `live` (see the module's docstring)."""
    rules = Rules.from_params(settings)
    columns, target = schema.names, schema.target.name
    labelled = live.labelled().sort_values(["time", "request_id", "index"], kind="stable").reset_index(drop=True)
    reasons = pd.Series("", index=labelled.index, dtype=object)
    kinds = pd.Series("", index=labelled.index, dtype=object)

    def refuse(mask: pd.Series, kind: str, text: pd.Series | str) -> None:
        fresh = mask & (reasons == "")
        reasons[fresh] = text[fresh] if isinstance(text, pd.Series) else text
        kinds[fresh] = kind

    target_range = None
    if not schema.classification and len(known.train):
        values = pd.to_numeric(known.train[target], errors="coerce")
        target_range = bounds(float(values.min()), float(values.max()), rules.range_slack)
    labels = label_problems(labelled["label"], schema, target_range)
    refuse(labels != "", "label", labels)
    inputs = input_problems(labelled, schema, rules.range_slack)
    refuse(inputs != "", "input", inputs)

    cap = rules.max_labels_per_source
    per_source = labelled["source"].value_counts()
    over = first_per_source(labelled, {str(s): cap for s in per_source.index})
    for source in per_source[per_source > cap].index:
        refuse(
            over & (labelled["source"] == source),
            "cap",
            f"cap: source {source!r} sent {per_source[source]} labels in the window; the first"
            f" {cap} count (retrain.data.max_labels_per_source)",
        )

    ok = reasons == ""
    prints = fingerprints(labelled[ok], schema).reindex(labelled.index)
    label_text = labelled["label"].map(lambda v: json.dumps(v, default=str))
    per_input = pd.DataFrame({"print": prints[ok], "label": label_text[ok]}).groupby("print")["label"].nunique()
    conflicting = prints.isin(per_input[per_input > 1].index) & ok
    refuse(conflicting, "conflict", "conflicting labels for one input")

    ok = reasons == ""
    in_holdout = ok & prints.isin(set(fingerprints(known.holdout, schema)))
    curated = known.curated if known.curated is not None and len(known.curated) else None
    curated_prints = set(fingerprints(curated, schema)) if curated is not None else set()
    in_curated = ok & ~in_holdout & prints.isin(curated_prints)  # the judge's records never train
    held = set(fingerprints(known.train, schema)) | set(fingerprints(known.production, schema))
    held |= set(fingerprints(known.recent, schema))
    in_training = ok & ~in_holdout & ~in_curated & prints.isin(held)
    fresh = ok & ~in_holdout & ~in_curated & ~in_training
    repeated = fresh & prints.duplicated()
    accepted = fresh & ~repeated

    share = rules.max_source_share
    trusted = accepted & labelled["source"].isin(rules.trusted_sources)
    judging = pd.Series(False, index=labelled.index)
    if curated is None:
        n_recent = int(round(rules.recent_share * int(trusted.sum())))
        judging[labelled.index[trusted][len(labelled.index[trusted]) - n_recent :]] = True
        window = labelled[judging]
        counts_in_window = window["source"].value_counts()
        if len(counts_in_window) > 1:  # one trusted source is the whole window; of several, none above the share
            total = int(counts_in_window.sum())
            allowed = {str(s): share_allowance(share, total - int(n)) for s, n in counts_in_window.items()}
            capped = judging & first_per_source(window, allowed).reindex(labelled.index, fill_value=False)
            for source in sorted(set(labelled.loc[capped, "source"])):
                refuse(
                    capped & (labelled["source"] == source),
                    "cap",
                    f"cap: source {source!r} above retrain.data.max_source_share {share:g} of the judging window",
                )
            judging &= reasons == ""
    training = accepted & ~judging & (reasons == "")
    base = len(known.train) + len(known.production) + len(known.recent)  # what the new records join
    if share < 1:
        allowance = share_allowance(share, base)
        capped = training & first_per_source(
            labelled[training], {str(s): allowance for s in labelled.loc[training, "source"].unique()}
        ).reindex(labelled.index, fill_value=False)
        for source in sorted(set(labelled.loc[capped, "source"])):
            refuse(
                capped & (labelled["source"] == source),
                "cap",
                f"cap: source {source!r} above retrain.data.max_source_share {share:g} of the training data"
                f" ({allowance} new records beside {base})",
            )
    training &= reasons == ""

    with_target = labelled.assign(**{target: labelled["label"]})
    if curated is not None:
        recent = curated.reindex(columns=[*columns, target])
        previous = known.recent[~fingerprints(known.recent, schema).isin(curated_prints).to_numpy()]
    else:
        recent = with_target[judging]
        previous = known.recent
    new_train = with_target[training]
    train = pd.concat([known.production, previous, new_train.reindex(columns=[*columns, target])], ignore_index=True)
    untrusted = set(labelled.loc[reasons != "", "request_id"])  # a refused label taints its whole request
    window_inputs = live.records[~live.records["request_id"].isin(untrusted)]
    if curated is None and len(recent):
        window_inputs = window_inputs[window_inputs["time"] >= recent["time"].min()]
    if len(window_inputs):
        window_inputs = window_inputs[input_problems(window_inputs, schema, rules.range_slack) == ""]

    quarantined = labelled[reasons != ""].assign(reason=reasons[reasons != ""])
    quarantine = quarantined.reindex(columns=["request_id", "index", "time", "source", "reason", "label", *columns])
    capped_by_source = labelled.loc[kinds == "cap", "source"].value_counts()
    counts = {
        "labelled": len(labelled),
        "quarantined": {kind: int((kinds == kind).sum()) for kind in KINDS},
        "quarantined_total": int((reasons != "").sum()),
        "capped": {str(k): int(v) for k, v in capped_by_source.sort_index().items()},
        "reasons": {str(k): int(v) for k, v in reasons[reasons != ""].value_counts().head(TOP_REASONS).items()},
        "excluded": {
            "in_holdout": int(in_holdout.sum()),
            "in_curated": int(in_curated.sum()),
            "in_training_data": int(in_training.sum()),
            "repeated": int(repeated.sum()),
        },
        "accepted": int((accepted & (reasons == "")).sum()),
        "recent": len(recent),
        "judged_by": judged_by(rules, curated is not None),
        "new_train": len(new_train),
        "previous_recent_to_train": len(previous),
        "production_train": len(train),
        "recent_inputs": len(window_inputs),
        "sources": {str(k): int(v) for k, v in per_source.sort_index().items()},
        "recent_window": {"start": _iso(recent["time"].min()), "end": _iso(recent["time"].max())}
        if curated is None and len(recent)
        else None,
    }
    return Refreshed(
        train=train.reset_index(drop=True),
        recent=recent.reindex(columns=[*columns, target]).reset_index(drop=True),
        inputs=window_inputs.reindex(columns=columns).reset_index(drop=True),
        quarantine=quarantine.reset_index(drop=True),
        counts=counts,
    )


def read_known(schema: Schema, production_rows: int, settings: dict[str, Any] | None = None) -> Known:
    """The holdout, the original train set (train.csv less its production rows), earlier production data
    and the curated labelled set `retrain.data.curated` names, when the file exists."""
    train = schema.read_split(paths.TRAIN)
    curated = Rules.from_params(settings or {}).curated
    return Known(
        holdout=schema.read_split(paths.TEST),
        train=train.head(len(train) - production_rows),
        production=_read(paths.PRODUCTION_TRAIN, schema),
        recent=_read(paths.PRODUCTION_RECENT, schema),
        curated=_read(Path(curated), schema) if curated and Path(curated).is_file() else None,
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


def _cut(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else f"{text[:limit]}…"


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")) if pd.notna(value) else ""
