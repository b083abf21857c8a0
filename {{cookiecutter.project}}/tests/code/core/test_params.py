"""Unit tests of core/params: the one params.yaml editor keeps every other byte, comments included."""

from __future__ import annotations

import pytest
import yaml

TEXT = """# the toy project's parameters
featurize:
  scale: true
  reference: train  # train | recent

train:
  seed: 42
  model: ridge  # ridge | random_forest
  ridge:
    alpha: 1.0  # regularisation
  random_forest:
    max_depth: null
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_a_nested_value_changes_its_line_only_and_keeps_its_comment(pkg):
    text = pkg.core.params.set_values(TEXT, {"train.ridge.alpha": 0.5, "featurize.reference": "recent"})
    assert changed_lines(TEXT, text) == [
        ("  reference: train  # train | recent", "  reference: recent  # train | recent"),
        ("    alpha: 1.0  # regularisation", "    alpha: 0.5  # regularisation"),
    ]
    expected = yaml.safe_load(TEXT)
    expected["train"]["ridge"]["alpha"], expected["featurize"]["reference"] = 0.5, "recent"
    assert yaml.safe_load(text) == expected


def test_the_same_values_give_the_same_bytes(pkg):
    same = {"train.ridge.alpha": 1, "train.random_forest.max_depth": None, "featurize.reference": "train"}
    assert pkg.core.params.set_values(TEXT, same) == TEXT, "1 and 1.0 are the same value; null stays null"


def test_null_and_a_number_are_written_as_yaml_writes_them(pkg):
    text = pkg.core.params.set_values(TEXT, {"train.random_forest.max_depth": 8, "train.ridge.alpha": None})
    assert [new.split("#")[0].strip() for _, new in changed_lines(TEXT, text)] == ["alpha: null", "max_depth: 8"]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("featurize.bins", "params.yaml has no `featurize.bins:` line — add a `bins:` line under `featurize`"),
        ("train.ridge.tol", "params.yaml has no `train.ridge.tol:` line — add a `tol:` line under `train.ridge`"),
        ("monitor.window", "params.yaml has no `monitor:` section — restore it"),
    ],
    ids=["missing-key", "missing-nested-key", "missing-section"],
)
def test_a_missing_key_fails_naming_it(pkg, key, message):
    with pytest.raises(SystemExit, match=message.replace("(", r"\(")):
        pkg.core.params.set_values(TEXT, {key: 1})


def test_with_add_a_missing_key_closes_its_block(pkg):
    text = pkg.core.params.set_values(TEXT, {"train.ridge.tol": 0.001, "train.lasso.alpha": 2}, add=True)
    assert text == TEXT.replace("regularisation\n", "regularisation\n    tol: 0.001\n") + "  lasso:\n    alpha: 2\n"
    with pytest.raises(SystemExit, match="has no `monitor:` section"):
        pkg.core.params.set_values(TEXT, {"monitor.window": 7}, add=True)  # a section is never added


def test_a_flow_mapping_or_a_list_value_is_refused(pkg):
    flow = "train:\n  ridge: {alpha: 1.0}\n"
    with pytest.raises(SystemExit, match=r"`train.ridge` is not a block — write it one `name: value` per line"):
        pkg.core.params.set_values(flow, {"train.ridge.alpha": 2.0})
    with pytest.raises(SystemExit, match="is not a plain value"):
        pkg.core.params.set_values(TEXT, {"train.ridge.alpha": [1, 2]})  # type: ignore[dict-item]


def test_update_writes_only_a_changed_file(pkg, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(TEXT)
    assert pkg.core.params.update({"featurize.reference": "train"}, path) is False
    assert pkg.core.params.update({"featurize.reference": "recent"}, path) is True
    assert yaml.safe_load(path.read_text())["featurize"]["reference"] == "recent"
    assert path.read_text().startswith("# the toy project's parameters\n")


def test_the_projects_params_take_the_edits_retraining_makes(pkg, root):
    """The template's params.yaml: the drift reference and a tuned model's values, one line each."""
    text = (root / "params.yaml").read_text()
    model = yaml.safe_load(text)["train"]["model"]
    current = yaml.safe_load(text)["train"][model]
    edits = {"featurize.reference": "recent", **{f"train.{model}.{k}": 2 * v for k, v in current.items()}}
    changed = changed_lines(text, pkg.core.params.set_values(text, edits))
    assert len(changed) == len(edits)
    assert all(old.partition("#")[2] == new.partition("#")[2] for old, new in changed), "a comment was lost"
