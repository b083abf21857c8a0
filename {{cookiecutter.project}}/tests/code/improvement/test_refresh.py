"""Unit tests of improvement/refresh: untrusted feedback quarantined with its reason, the holdout kept out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

SETTINGS = {"recent_share": 0.5, "max_labels_per_source": 50}


def live_data(pkg, frame: pd.DataFrame, labels: list, sources: list[str], start: int = 0):
    """A LiveData of one request per row of `frame`, labelled with `labels` from `sources`, a second apart."""
    n = len(frame)
    ids = [f"{start + i:032x}" for i in range(n)]
    times = pd.to_datetime(1_800_000_000 + start + np.arange(n), unit="s", utc=True)
    records = frame[["size", "weight", "colour"]].assign(
        request_id=ids, index=0, time=times, model_version="0.1.0-abcdef0", output=0
    )
    feedback = pd.DataFrame(
        {"request_id": ids, "index": 0, "label": labels, "labelled_at": "", "source": sources}
    ).dropna(subset=["label"])
    requests = pd.DataFrame({"request_id": ids, "time": times, "status": 200, "latency_ms": 1.0})
    return pkg.monitoring.logs.LiveData(records, requests, feedback, files=1, megabytes=0.1, corrupt=0)


def combine(pkg, *parts):
    return pkg.monitoring.logs.LiveData(
        *(
            pd.concat([getattr(p, name) for p in parts], ignore_index=True)
            for name in ("records", "requests", "feedback")
        ),
        files=1,
        megabytes=0.1,
        corrupt=0,
    )


@pytest.fixture
def setting(pkg, make_toy):
    """A schema, what the project knows (holdout, train) and 40 clean labelled production records."""
    original = make_toy(n=60, seed=0)
    schema = pkg.pipeline.prepare.infer_schema(original, "target", "classification")
    known = pkg.improvement.refresh.Known(
        holdout=original.iloc[:20], train=original.iloc[20:], production=original.iloc[0:0], recent=original.iloc[0:0]
    )
    fresh = make_toy(n=40, seed=5)
    clean = live_data(pkg, fresh, fresh["target"].tolist(), ["annotators"] * 40)
    return schema, known, fresh, clean


def test_clean_records_split_by_time_newest_judge(pkg, setting):
    schema, known, fresh, clean = setting
    out = pkg.improvement.refresh.refresh(clean, schema, known, SETTINGS)
    assert out.counts["accepted"] == 40 and out.counts["quarantined_total"] == 0
    assert (out.counts["recent"], out.counts["new_train"]) == (20, 20)
    # the newest half judges: the last 20 records sent
    assert out.recent["size"].tolist() == pytest.approx(fresh["size"].iloc[20:].tolist())
    assert out.train["size"].tolist() == pytest.approx(fresh["size"].iloc[:20].tolist())
    assert len(out.inputs) == 20  # every logged input from the recent window's start


def test_poisoned_and_malformed_feedback_is_quarantined_and_does_not_move_the_training_data(pkg, setting, make_toy):
    schema, known, fresh, clean = setting
    baseline = pkg.improvement.refresh.refresh(clean, schema, known, SETTINGS)
    bad = make_toy(n=64, seed=9)
    bad.loc[bad.index[2], "size"] = 1e9  # outside what the service accepts
    labels = [7, 0, 1, 1] + [1 - int(v) for v in bad["target"].iloc[4:]]  # 7: no such class
    sources = ["annotators"] * 4 + ["bot"] * 60  # 60 > max_labels_per_source 50: a flood
    poisoned = live_data(pkg, bad, labels, sources, start=1000)
    # the same input twice with two labels
    twice = live_data(pkg, pd.concat([fresh.iloc[[0]]] * 2), [0, 1], ["annotators", "annotators"], start=5000)
    out = pkg.improvement.refresh.refresh(combine(pkg, clean, poisoned, twice), schema, known, SETTINGS)
    quarantined = out.counts["quarantined"]
    assert quarantined == {"flood": 60, "label": 1, "input": 1, "conflict": 3}, quarantined
    reasons = out.quarantine["reason"].tolist()
    assert any("source 'bot' sent 60 labels" in r for r in reasons)
    assert out.counts["reasons"][next(r for r in reasons if "flood" in r)] == 60
    assert any("label 7 is not a known class" in r for r in reasons)
    assert any("input 'size' outside" in r for r in reasons)
    assert reasons.count("conflicting labels for one input") == 3  # both labels, and the clean record they repeat
    assert len(out.quarantine) == out.counts["quarantined_total"] == 65
    # what trains is the clean data less the record with conflicting labels: the poison moved nothing
    # 40 clean, less the one whose input came again with another label, plus the two valid "annotators" rows
    assert out.counts["accepted"] == baseline.counts["accepted"] - 1 + 2
    bot_inputs = set(bad["size"].iloc[4:].round(9))
    assert not bot_inputs & set(pd.concat([out.train, out.recent])["size"].round(9))


def test_holdout_records_and_known_ones_never_join_and_repeats_count_once(pkg, setting):
    schema, known, fresh, clean = setting
    repeated = pd.concat([known.holdout.iloc[:5], known.train.iloc[:3], fresh.iloc[:2], fresh.iloc[:2]])
    live = live_data(pkg, repeated, repeated["target"].tolist(), ["a"] * len(repeated))
    out = pkg.improvement.refresh.refresh(live, schema, known, SETTINGS)
    assert out.counts["excluded"] == {"in_holdout": 5, "in_training_data": 3, "repeated": 2}
    assert out.counts["accepted"] == 2


def test_the_previous_recent_window_joins_training(pkg, setting):
    schema, known, fresh, clean = setting
    first = pkg.improvement.refresh.refresh(clean, schema, known, SETTINGS)
    later = pkg.improvement.refresh.Known(known.holdout, known.train, first.train, first.recent)
    out = pkg.improvement.refresh.refresh(clean, schema, later, SETTINGS)  # the same log, a retraining later
    assert out.counts["previous_recent_to_train"] == 20
    assert out.counts["excluded"]["in_training_data"] == 40  # seen in the first retraining
    assert len(out.train) == 40 and out.recent.empty


def test_a_hashed_or_dropped_input_cannot_train(pkg, setting):
    schema, known, fresh, clean = setting
    hashed = clean.records.assign(size="ab12cd")
    out = pkg.improvement.refresh.refresh(
        pkg.monitoring.logs.LiveData(hashed, clean.requests, clean.feedback, 1, 0.1, 0), schema, known, SETTINGS
    )
    assert out.counts["quarantined"]["input"] == 40 and "hashed" in out.quarantine["reason"].iloc[0]
    dropped = clean.records.drop(columns=["weight"])
    out = pkg.improvement.refresh.refresh(
        pkg.monitoring.logs.LiveData(dropped, clean.requests, clean.feedback, 1, 0.1, 0), schema, known, SETTINGS
    )
    assert out.counts["accepted"] == 0 and "was not logged" in out.quarantine["reason"].iloc[0]
