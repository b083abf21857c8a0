"""The configurations the suite generates, the answers it must reject, and one test class per configuration.

The options and their choices come from cookiecutter.json (support.options); tests/test_matrix.py
fails when a choice is never generated, when a task/dataset pair is neither generated nor
rejected, or when a choice is left out of the lifecycle without a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

from support.options import CHOICES, DEFAULTS

# Where users keep projects that tools trip over: a dot-folder (~/.local/src, a CI runner's
# ~/.jenkins/workspace) and a space in the path, both at once.
HIDDEN_SPACED_FOLDER = ".hidden dir/work"


@dataclass(frozen=True)
class Configuration:
    """One way to answer the template: fixed answers, plus the CSV fixture to feed when dataset=csv."""

    id: str
    answers: dict[str, object] = field(default_factory=dict)
    csv: str | None = None  # "classification" | "regression": which generated CSV to point csv_path at
    lifecycle: bool = True  # also installed and run for real (slow tier), not only rendered
    folder: str = ""  # bake under <tmp>/<folder>/ instead of pytest-cookies' own folder

    def answer(self, key: str) -> object:
        """The answer this configuration gives, or the template's default for it."""
        return self.answers.get(key, DEFAULTS[key])

    def _text(self, key: str) -> str:
        """The answer to a text option: cookiecutter.json's choices for it are strings, and so are the answers."""
        return cast(str, self.answer(key))

    @property
    def task(self) -> str:
        return self._text("task")

    @property
    def dataset(self) -> str:
        return self._text("dataset")

    @property
    def python_version(self) -> str:
        return self._text("python_version")

    @property
    def license(self) -> str:
        return self._text("license")

    @property
    def class_name(self) -> str:
        """`Test<CamelCaseId>`: the test class that holds this configuration's tests."""
        return "Test" + "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", self.id) if word)


# Explicit strategy: every choice of cookiecutter.json at least once (tests/test_matrix.py checks
# it), csv paired with both tasks, the default route kept in a dot-folder with a space.
CONFIGURATIONS = [
    Configuration(
        "classification-builtin-py311",
        {
            "project_name": "Breast Cancer Screening",
            "task": "classification",
            "dataset": "builtin",
            "python_version": "3.11",
        },
        folder=HIDDEN_SPACED_FOLDER,
    ),
    Configuration(
        "regression-builtin-py312",
        {
            "project_name": "Diabetes Progression",
            "task": "regression",
            "dataset": "builtin",
            "python_version": "3.12",
            "license": "Apache-2.0",
            # GitLab CI: tests/test_gitlab.py runs its merge-request and main pipelines with gitlab-ci-local.
            "ci": "gitlab",
        },
    ),
    Configuration(
        "classification-wine",
        {"project_name": "Wine Cultivar", "task": "classification", "dataset": "wine"},
    ),
    Configuration(
        "classification-csv",
        {"project_name": "Churn Predictor", "task": "classification", "dataset": "csv"},
        csv="classification",
    ),
    Configuration(
        "regression-csv",
        {"project_name": "House Prices", "task": "regression", "dataset": "csv"},
        csv="regression",
    ),
    Configuration(
        "license-proprietary",
        {"project_name": "Internal Scorer", "license": "Proprietary"},
        lifecycle=False,
    ),
    # The explicit names of the built-in data sets must render like `builtin`.
    Configuration(
        "classification-breast-cancer-explicit",
        {"project_name": "Tumour Classifier", "task": "classification", "dataset": "breast_cancer"},
        lifecycle=False,
    ),
    Configuration(
        "regression-diabetes-explicit",
        {"project_name": "Disease Progression", "task": "regression", "dataset": "diabetes"},
        lifecycle=False,
    ),
    # An S3-compatible store: the default remote is the bucket's dvc/ prefix, with its endpoint.
    Configuration(
        "storage-s3-endpoint",
        {"project_name": "Stored Model", "storage": "s3", "s3_endpoint": "https://minio.example.com"},
        lifecycle=False,
    ),
    # Both pipelines: the GitHub workflows and .gitlab-ci.yml; the image stays on ghcr.io.
    Configuration(
        "ci-both",
        {"project_name": "Mirrored Model", "ci": "both", "github_owner": "acme"},
        lifecycle=False,
    ),
]
LIFECYCLE_CONFIGURATIONS = [c for c in CONFIGURATIONS if c.lifecycle]

# Choices no lifecycle configuration takes, and why running them would test nothing new.
NOT_RUN = {
    ("license", "Proprietary"): "the licence text changes no command; rendering checks LICENSE and pyproject",
    ("dataset", "breast_cancer"): "the same data as builtin for classification (rendering checks params.yaml)",
    ("dataset", "diabetes"): "the same data as builtin for regression (rendering checks params.yaml)",
    (
        "storage",
        "s3",
    ): "tests/test_storage.py runs it (push, a fresh clone's pull and pipeline) against an S3 server on loopback,"
    " then tests/test_dataplane.py serves it as two replicas",
    ("ci", "both"): "the two CI files of github and gitlab side by side; rendering checks both are there",
}

# Options whose choices constrain each other: every pair of their choices is generated by a
# configuration or rejected by the pre-generation hook (REJECTED).
PAIRED_OPTIONS = [("task", "dataset")]

# id -> (answers, fragments the one-line reason must contain). {csv:...} and {missing}
# placeholders are filled by tests/test_hooks.py at test time.
REJECTED = {
    "package-is-keyword": ({"project_name": "class"}, ["'class'", "keyword"]),
    "package-starts-with-digit": ({"project_name": "123 model"}, ["'123_model'"]),
    "package-override-not-identifier": ({"package": "my-pkg"}, ["'my-pkg'", "identifier"]),
    "package-override-keyword": ({"package": "import"}, ["'import'", "keyword"]),
    "empty-slug": ({"project_name": "!!! ???"}, ["project", "slug"]),
    # project_name titles the package's docstring and two Markdown headings: no escape, no end, one line
    "project-name-backslash": ({"project_name": "C:\\Users\\Models"}, ["project_name", "backslash"]),
    "project-name-triple-quote": ({"project_name": 'The """Best""" Model'}, ["project_name", "three double quotes"]),
    "project-name-line-break": ({"project_name": "Two\nLines"}, ["project_name", "line break"]),
    "github-owner-uppercase": ({"github_owner": "ML-Team"}, ["'ML-Team'", "github_owner"]),
    "github-owner-double-hyphen": ({"github_owner": "ml--team"}, ["'ml--team'", "github_owner"]),
    "classification-with-diabetes": ({"task": "classification", "dataset": "diabetes"}, ["diabetes", "classification"]),
    "regression-with-breast-cancer": (
        {"task": "regression", "dataset": "breast_cancer"},
        ["breast_cancer", "regression"],
    ),
    "regression-with-wine": ({"task": "regression", "dataset": "wine"}, ["wine", "regression"]),
    "csv-without-path": ({"dataset": "csv", "csv_path": ""}, ["csv_path"]),
    "csv-path-does-not-exist": ({"dataset": "csv", "csv_path": "{missing}"}, ["{missing}"]),
    "csv-target-not-in-header": (
        {"dataset": "csv", "csv_path": "{csv:classification}", "target_column": "no_such_column"},
        ["no_such_column"],
    ),
    # S3's bucket naming rules, and an endpoint that is a URL: only checked with storage=s3
    "s3-bucket-uppercase-underscore": ({"storage": "s3", "s3_bucket": "Team_Models"}, ["'Team_Models'", "s3_bucket"]),
    "s3-bucket-too-short": ({"storage": "s3", "s3_bucket": "ab"}, ["'ab'", "s3_bucket"]),
    "s3-bucket-ip-address": ({"storage": "s3", "s3_bucket": "192.168.5.4"}, ["'192.168.5.4'", "s3_bucket"]),
    "s3-bucket-double-dot": ({"storage": "s3", "s3_bucket": "models..team"}, ["'models..team'", "s3_bucket"]),
    "s3-bucket-from-an-underscored-slug": (
        {"storage": "s3", "project": "my_model"},
        ["'my_model-modelops'", "s3_bucket"],
    ),
    "s3-endpoint-without-scheme": ({"storage": "s3", "s3_endpoint": "minio:9000"}, ["'minio:9000'", "s3_endpoint"]),
    "s3-endpoint-not-http": ({"storage": "s3", "s3_endpoint": "ftp://minio.example.com"}, ["s3_endpoint", "http"]),
}


def rejected_answers(case: str) -> dict[str, object]:
    """A rejected case's answers over the defaults (what the hook sees)."""
    return {**DEFAULTS, **REJECTED[case][0]}


def choice_coverage(configs: list[Configuration]) -> set[tuple[str, object]]:
    """(option, choice) pairs the configurations answer, defaults included."""
    return {(option, c.answer(option)) for c in configs for option in CHOICES}


def per_configuration(checks: type, configs: list[Configuration]) -> dict[str, type]:
    """One test class per configuration: `Test<Id>`, a subclass of `checks` with `config` set.

    A module adds them with `globals().update(per_configuration(Checks, CONFIGURATIONS))`.
    Its class-scoped fixture bakes `request.cls.config` once; under `--dist loadscope` (pytest.ini)
    xdist sends each class whole to one worker, which runs its tests in the order written, and
    different configurations run on different workers.
    """
    classes = {}
    for config in configs:
        doc = f"{checks.__doc__ or checks.__name__} — configuration `{config.id}`."
        classes[config.class_name] = type(
            config.class_name, (checks,), {"config": config, "__doc__": doc, "__module__": checks.__module__}
        )
    assert len(classes) == len(configs), "two configurations give the same test class name"
    return classes
