"""Reject answers that cannot make a working project, before anything is written.

Each rejection is one line on stderr naming the answer and the fix; exit 1 aborts generation.
"""

import csv
import ipaddress
import json
import keyword
import os
import re
import sys
from pathlib import Path
from typing import TypedDict


class Answers(TypedDict):
    """The answers the checks read (`output_dir` is None under cruft, which renders without one)."""

    project_name: str
    project: str
    package: str
    github_owner: str
    task: str
    dataset: str
    csv_path: str
    target_column: str
    storage: str
    s3_bucket: str
    s3_endpoint: str
    output_dir: str | None


# Answers arrive as one JSON document in a raw string, so this file stays valid Python before
# rendering and quotes or backslashes in an answer cannot break it (tojson escapes ' as \u0027).
ANSWERS: Answers = json.loads(
    r"""{
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project": {{ cookiecutter.project | tojson }},
    "package": {{ cookiecutter.package | tojson }},
    "github_owner": {{ cookiecutter.github_owner | tojson }},
    "task": {{ cookiecutter.task | tojson }},
    "dataset": {{ cookiecutter.__dataset_name | tojson }},
    "csv_path": {{ cookiecutter.csv_path | tojson }},
    "target_column": {{ cookiecutter.target_column | tojson }},
    "storage": {{ cookiecutter.storage | tojson }},
    "s3_bucket": {{ cookiecutter.s3_bucket | tojson }},
    "s3_endpoint": {{ cookiecutter.s3_endpoint | tojson }},
    "output_dir": {{ cookiecutter._output_dir | default(none) | tojson }}
}"""
)

TASK_OF_DATASET = {"breast_cancer": "classification", "wine": "classification", "diabetes": "regression"}
SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
OWNER = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")  # a GitHub login or a GitLab group, lowercase as image names must be
# S3's bucket naming rules (general purpose buckets): 3-63 characters of lowercase letters, digits,
# dots and hyphens, a letter or digit at both ends, no "..", no IP address, no reserved prefix or suffix.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
ENDPOINT = re.compile(r"^https?://[^/?#\s]+(/[^\s]*)?$")


def problems(answers: Answers) -> list[str]:
    """Every reason the answers cannot make a working project (empty when they can)."""
    found = []
    # project_name is the title of the package's docstring (`"""<name>: …"""`), of README.md and of
    # docs/problem_definition.md: one line of text, no escape for the docstring, nothing that ends it.
    name = answers["project_name"]
    if "\\" in name:
        found.append(f"project_name {name!r} holds a backslash, an escape in the package's docstring — leave it out")
    if '"""' in name:
        found.append(
            f"project_name {name!r} holds three double quotes in a row, the end of the package's docstring"
            " — use at most two in a row"
        )
    if not name.isprintable():
        found.append(f"project_name {name!r} holds a line break or a control character — give one line of text")
    project, package = answers["project"], answers["package"]
    if not project.strip() or not SLUG.match(project):
        found.append(
            f"project {project!r} is not a repository slug (lowercase letters, digits, '.', '_', '-')"
            " — give a project_name with letters"
        )
    if not package.isidentifier() or not package.isascii():
        found.append(
            f"package {package!r} is not a Python identifier"
            " — start the project name with a letter and use ASCII letters and digits"
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package {package!r} is a Python keyword — choose another project name")
    owner = answers["github_owner"]
    if len(owner) > 39 or not OWNER.match(owner):
        found.append(
            f"github_owner {owner!r} is not an owner name in lowercase (a GitHub user or organisation, or a"
            " GitLab group: letters, digits, single hyphens between them) — give your owner, e.g. 'ml-team'"
        )
    dataset, task = answers["dataset"], answers["task"]
    if dataset in TASK_OF_DATASET and TASK_OF_DATASET[dataset] != task:
        found.append(
            f"dataset {dataset!r} is for {TASK_OF_DATASET[dataset]}, not {task} — pick another dataset or task"
        )
    # cookiecutter records where it writes (`_output_dir`); cruft's `update` and `diff` render an
    # existing project's answers with cookiecutter.generate_files, which does not: that project
    # holds its CSV already, and the path was checked when it was generated.
    if dataset == "csv" and answers["output_dir"] is not None:
        base = Path(os.environ.get("PWD") or answers["output_dir"])
        found += csv_problems(answers["csv_path"], answers["target_column"], base)
    if answers["storage"] == "s3":
        found += s3_problems(answers["s3_bucket"], answers["s3_endpoint"])
    return found


def s3_problems(bucket: str, endpoint: str) -> list[str]:
    """An S3 bucket name S3 accepts, and an endpoint that is an http(s) URL (or empty: AWS)."""
    found = []
    if not bucket_name_ok(bucket):
        found.append(
            f"s3_bucket {bucket!r} is not a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-';"
            " a letter or digit at both ends; no '..', no IP address) — give one, e.g. 'ml-team-models'"
        )
    if endpoint and not ENDPOINT.match(endpoint):
        found.append(
            f"s3_endpoint {endpoint!r} is not an http:// or https:// URL"
            " — give your store's URL (e.g. https://minio.example.com) or leave it empty for AWS S3"
        )
    return found


def bucket_name_ok(bucket: str) -> bool:
    """S3's naming rules for a general purpose bucket."""
    if not BUCKET.match(bucket) or ".." in bucket:
        return False
    if bucket.startswith(BUCKET_RESERVED_PREFIXES) or bucket.endswith(BUCKET_RESERVED_SUFFIXES):
        return False
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return True
    return False


def csv_problems(csv_path: str, target: str, base: Path) -> list[str]:
    """A bring-your-own CSV must exist, be readable and hold the target column.

    A relative path is taken from the folder cookiecutter was run in ($PWD; the hook itself runs elsewhere).
    """
    if not csv_path.strip():
        return ["dataset 'csv' needs csv_path — give the path to your CSV file"]
    path = base / Path(csv_path).expanduser()
    if not path.is_file():
        return [
            f"csv_path {csv_path!r} does not exist (looked in {path.resolve()}) — give the path to an existing CSV file"
        ]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError) as error:
        return [f"csv_path {csv_path!r} cannot be read as UTF-8 CSV ({error}) — convert it to UTF-8 CSV"]
    if target not in header:
        return [
            f"target_column {target!r} is not in the header of {csv_path!r} (columns: {', '.join(header)})"
            " — name one of them"
        ]
    if len(header) < 2:
        return [f"{csv_path!r} has no feature columns besides {target!r}"]
    return []


if __name__ == "__main__":
    reasons = problems(ANSWERS)
    for reason in reasons:
        print(f"error: {reason}", file=sys.stderr)
    sys.exit(1 if reasons else 0)
