"""Unit tests of improvement/refresh: untrusted feedback quarantined with its reason, capped by source and kept
from judging; the holdout kept out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

SETTINGS = {
    "recent_share": 0.5,
    "max_labels_per_source": 50,
    "max_source_share": 0.5,
    "range_slack": 0.25,
    "trusted_sources": ["annotators", "a"],
}


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


def test_poisoned_and_malformed_feedback_is_quarantined_capped_and_never_judges(pkg, setting, make_toy):
    schema, known, fresh, clean = setting
    baseline = pkg.improvement.refresh.refresh(clean, schema, known, SETTINGS)
    bad = make_toy(n=64, seed=9)
    bad.loc[bad.index[2], "size"] = 1e9  # outside what the service accepts
    labels = [7, 0, 1, 1] + [1 - int(v) for v in bad["target"].iloc[4:]]  # 7: no such class
    sources = ["annotators"] * 4 + ["bot"] * 60  # 60 > max_labels_per_source 50: a flood, and an untrusted one
    poisoned = live_data(pkg, bad, labels, sources, start=1000)
    # the same input twice with two labels
    twice = live_data(pkg, pd.concat([fresh.iloc[[0]]] * 2), [0, 1], ["annotators", "annotators"], start=5000)
    out = pkg.improvement.refresh.refresh(combine(pkg, clean, poisoned, twice), schema, known, SETTINGS)
    quarantined = out.counts["quarantined"]
    # bot: its first 50 labels count, 10 are capped; of those 50, at most the 40 rows of the training data they
    # join (max_source_share 0.5) may train: 10 more capped
    assert quarantined == {"label": 1, "input": 1, "conflict": 3, "cap": 20}, quarantined
    assert out.counts["capped"] == {"bot": 20}
    reasons = out.quarantine["reason"].tolist()
    assert sum("source 'bot' sent 60 labels in the window; the first 50 count" in r for r in reasons) == 10
    assert sum("source 'bot' above retrain.data.max_source_share 0.5 of the training data" in r for r in reasons) == 10
    assert any("label 7 is not a known class" in r for r in reasons)
    assert any("input 'size' outside the training range plus 0.25 of it" in r for r in reasons)
    assert reasons.count("conflicting labels for one input") == 3  # both labels, and the clean record they repeat
    assert len(out.quarantine) == out.counts["quarantined_total"] == 25
    # the judge is the trusted annotators' newest records: nothing of the bot judges
    bot_inputs = set(bad["size"].iloc[4:].round(9))
    assert not bot_inputs & set(out.recent["size"].round(9))
    assert len(bot_inputs & set(out.train["size"].round(9))) == 40  # the earliest 40: its cap
    assert out.counts["accepted"] == baseline.counts["accepted"] - 1 + 2 + 40


def test_holdout_records_and_known_ones_never_join_and_repeats_count_once(pkg, setting):
    schema, known, fresh, clean = setting
    repeated = pd.concat([known.holdout.iloc[:5], known.train.iloc[:3], fresh.iloc[:2], fresh.iloc[:2]])
    live = live_data(pkg, repeated, repeated["target"].tolist(), ["a"] * len(repeated))
    out = pkg.improvement.refresh.refresh(live, schema, known, SETTINGS)
    assert out.counts["excluded"] == {"in_holdout": 5, "in_curated": 0, "in_training_data": 3, "repeated": 2}
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


def test_an_unseen_category_or_an_input_beyond_the_training_range_plus_its_slack_never_trains(pkg, setting):
    schema, known, fresh, clean = setting
    size = schema.feature("size")
    width = size.max - size.min
    frame = fresh.iloc[:4].copy()
    frame["colour"] = ["red", "purple", "red", "red"]  # purple: the training data never had it (a trigger)
    frame["size"] = [size.max + 0.2 * width, 11.0, size.max + 0.3 * width, size.min - 0.3 * width]
    live = live_data(pkg, frame, frame["target"].tolist(), ["annotators"] * 4)
    out = pkg.improvement.refresh.refresh(live, schema, known, SETTINGS)
    reasons = out.quarantine.set_index("request_id")["reason"]
    assert out.counts["quarantined"]["input"] == 3 and out.counts["accepted"] == 1  # within 0.25 of the range: kept
    assert reasons.iloc[0] == "input 'colour' is \"purple\", a category the training data never had"
    assert all("outside the training range plus 0.25 of it" in r for r in reasons.iloc[1:])
    # what the service accepts is wider (RANGE_SLACK ranges, any category): training is stricter
    assert (pkg.improvement.refresh.input_problems(frame, schema) == "").all()


def test_a_regression_label_beyond_the_targets_range_plus_its_slack_never_trains(pkg, make_toy):
    original = make_toy(n=60, seed=0, task="regression")
    schema = pkg.pipeline.prepare.infer_schema(original, "target", "regression")
    known = pkg.improvement.refresh.Known(
        original.iloc[:20], original.iloc[20:], original.iloc[0:0], original.iloc[0:0]
    )
    low, high = original["target"].iloc[20:].min(), original["target"].iloc[20:].max()
    fresh = make_toy(n=20, seed=5, task="regression").head(5)
    labels = [1e308, high + 0.5 * (high - low), low - 0.5 * (high - low), high + 0.1 * (high - low), float("inf")]
    out = pkg.improvement.refresh.refresh(live_data(pkg, fresh, labels, ["a"] * 5), schema, known, SETTINGS)
    assert out.counts["quarantined"]["label"] == 4 and out.counts["accepted"] == 1
    assert sum("label outside the training target's range plus the slack" in r for r in out.quarantine["reason"]) == 3


def test_a_flood_under_a_real_sources_name_cannot_silence_it(pkg, setting, make_toy):
    """The labeller's own records came first: they count; the flood after them is capped, none of it trains."""
    schema, known, fresh, clean = setting
    flood = make_toy(n=60, seed=11)
    wrong = [1 - int(v) for v in flood["target"]]
    later = live_data(pkg, flood, wrong, ["annotators"] * 60, start=1000)
    rules = {**SETTINGS, "max_labels_per_source": 40}  # what the annotators sent before the flood
    out = pkg.improvement.refresh.refresh(combine(pkg, clean, later), schema, known, rules)
    assert out.counts["capped"] == {"annotators": 60} and out.counts["quarantined"]["cap"] == 60
    assert (out.counts["recent"], out.counts["new_train"]) == (20, 20)  # the labeller's 40, as without the flood
    flood_inputs = set(flood["size"].round(9))
    assert not flood_inputs & set(pd.concat([out.train, out.recent])["size"].round(9))


def test_no_source_holds_more_than_its_share_of_the_training_data_or_of_the_window(pkg, setting, make_toy):
    schema, known, fresh, clean = setting
    extra = make_toy(n=30, seed=12)
    others = live_data(pkg, extra, extra["target"].tolist(), ["a"] * 30, start=2000)
    rules = {**SETTINGS, "max_source_share": 0.2}  # a source may add 10 records beside the 40 of the training data
    out = pkg.improvement.refresh.refresh(combine(pkg, clean, others), schema, known, rules)
    # 70 trusted records: the newest 35 judge (5 annotators, 30 "a"): "a" may hold 0.2/0.8 × 5 of them = 1
    assert out.counts["recent"] == 6 and out.counts["capped"] == {"a": 29, "annotators": 25}
    assert out.counts["new_train"] == 10 and len(out.train) == 10  # the annotators' earliest 10 of their 35
    reasons = out.quarantine["reason"]
    assert (reasons.str.contains("of the judging window")).sum() == 29
    assert (reasons.str.contains("of the training data")).sum() == 25


def test_untrusted_sources_never_judge_and_without_trusted_ones_nothing_does(pkg, setting):
    schema, known, fresh, clean = setting
    out = pkg.improvement.refresh.refresh(clean, schema, known, {**SETTINGS, "trusted_sources": []})
    assert out.counts["recent"] == 0 and out.recent.empty and out.counts["new_train"] == 40
    assert "none declared" in out.counts["judged_by"]


def test_a_curated_set_judges_instead_of_feedback_and_never_trains(pkg, setting, make_toy):
    schema, known, fresh, clean = setting
    curated = make_toy(n=15, seed=21)
    with_curated = pkg.improvement.refresh.Known(
        known.holdout, known.train, known.production, curated.iloc[:3], curated=curated
    )  # the previous window held three curated records: they stay out of training
    both = combine(pkg, clean, live_data(pkg, curated.iloc[:2], curated["target"].iloc[:2].tolist(), ["a"] * 2, 3000))
    out = pkg.improvement.refresh.refresh(both, schema, with_curated, {**SETTINGS, "curated": "data/curated/x.csv"})
    assert out.counts["recent"] == 15 and out.recent["size"].tolist() == pytest.approx(curated["size"].tolist())
    assert out.counts["excluded"]["in_curated"] == 2 and out.counts["new_train"] == 40
    assert out.counts["previous_recent_to_train"] == 0 and len(out.train) == 40
    assert out.counts["judged_by"] == "the curated set data/curated/x.csv"


def test_a_log_without_feedback_refreshes_to_nothing(pkg, setting):
    schema, known, fresh, clean = setting
    unlabelled = pkg.monitoring.logs.LiveData(clean.records, clean.requests, clean.feedback.iloc[0:0], 1, 0.1, 0)
    out = pkg.improvement.refresh.refresh(unlabelled, schema, known, SETTINGS)
    assert out.counts["labelled"] == out.counts["accepted"] == 0 and out.recent.empty and out.train.empty
    assert out.counts["capped"] == {} and out.quarantine.empty
