"""The option matrix follows cookiecutter.json: a new prompt or choice cannot be forgotten by the suite."""

from __future__ import annotations

import itertools

import pytest
from support.matrix import (
    CONFIGURATIONS,
    LIFECYCLE_CONFIGURATIONS,
    NOT_RUN,
    PAIRED_OPTIONS,
    REJECTED,
    choice_coverage,
    rejected_answers,
)
from support.options import CHOICES, PROMPTS


def all_choices() -> set[tuple[str, object]]:
    return {(option, choice) for option, choices in CHOICES.items() for choice in choices}


def test_cookiecutter_json_has_choice_options():
    """Guards the derivation below: it must see the template's real choice options."""
    assert {"task", "dataset", "python_version", "license"} <= set(CHOICES)


def test_every_choice_is_generated():
    missing = sorted(all_choices() - choice_coverage(CONFIGURATIONS), key=str)
    assert missing == [], f"no configuration in support/matrix.py generates {missing}: add one"


def test_every_choice_runs_the_lifecycle_or_says_why_not():
    not_run = all_choices() - choice_coverage(LIFECYCLE_CONFIGURATIONS)
    unexplained = sorted(not_run - set(NOT_RUN), key=str)
    assert unexplained == [], (
        f"no lifecycle configuration runs {unexplained}: add one, or say why in NOT_RUN (support/matrix.py)"
    )
    stale = sorted(set(NOT_RUN) - not_run, key=str)
    assert stale == [], f"NOT_RUN lists {stale}, which a lifecycle configuration runs or cookiecutter.json lacks"


@pytest.mark.parametrize("first, second", PAIRED_OPTIONS, ids=["-".join(p) for p in PAIRED_OPTIONS])
def test_every_pair_of_paired_options_is_generated_or_rejected(first, second):
    generated = {(c.answer(first), c.answer(second)) for c in CONFIGURATIONS}
    # A case rejects a pair when it answers both (others are rejected for another reason).
    rejected = {
        (a[first], a[second])
        for case, (answers, _) in REJECTED.items()
        if {first, second} <= set(answers)
        for a in [rejected_answers(case)]
    }
    both = sorted(generated & rejected, key=str)
    assert both == [], f"{first}/{second} pairs both generated and rejected: {both}"
    untested = sorted(set(itertools.product(CHOICES[first], CHOICES[second])) - generated - rejected, key=str)
    assert untested == [], f"{first}/{second} pairs neither generated nor rejected: {untested}"


def test_configurations_answer_only_what_cookiecutter_asks():
    for config in CONFIGURATIONS:
        unknown = set(config.answers) - set(PROMPTS)
        assert not unknown, f"{config.id} answers {unknown}, which cookiecutter.json does not ask"
        for option, choices in CHOICES.items():
            assert config.answer(option) in choices, f"{config.id}: {option}={config.answer(option)!r}"
    for case in REJECTED:
        assert set(REJECTED[case][0]) <= set(PROMPTS), f"rejected case {case} answers an unknown prompt"


def test_configuration_ids_and_classes_are_unique():
    ids = [c.id for c in CONFIGURATIONS]
    assert len(set(ids)) == len(ids)
    assert len({c.class_name for c in CONFIGURATIONS}) == len(ids)
