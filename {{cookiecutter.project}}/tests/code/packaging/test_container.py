"""Unit tests of packaging/container: the rules a built bento's Dockerfile must keep."""

from __future__ import annotations

import pytest

PYTHON = "3.11"
DOCKERFILE = f"""\
FROM python:{PYTHON}-slim as base-container
ENV PYTHONUNBUFFERED=1
USER root
RUN apt-get update -y
ARG BENTO_USER=bentoml
RUN useradd -m -u 1034 -r $BENTO_USER
WORKDIR /home/bentoml/bento
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/readyz', timeout=2)"]
EXPOSE 3000
EXPOSE 3001
USER bentoml
ENTRYPOINT [ "/home/bentoml/bento/env/docker/entrypoint.sh" ]
"""


def test_check_dockerfile_passes_a_good_one(pkg):
    assert pkg.packaging.container.check_dockerfile(DOCKERFILE, PYTHON) == []


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("USER bentoml\n", "USER bentoml\nUSER root\n", "runs as root"),
        ("USER bentoml\n", "USER 0\n", "runs as 0"),
        ("USER bentoml\n", "", "non-root USER"),
        ("HEALTHCHECK", "# HEALTHCHECK", "no HEALTHCHECK"),
        ("/readyz", "/healthz", "no HEALTHCHECK on /readyz"),
        (f"python:{PYTHON}-slim", "python:3.10-slim", "base image is python:3.10-slim"),
        (f"FROM python:{PYTHON}-slim as base-container\n", "", "base image is missing"),
        ("EXPOSE 3000\n", "", "port 3000"),
    ],
    ids=[
        "root-last",
        "uid-0",
        "no-user",
        "no-healthcheck",
        "healthcheck-not-readyz",
        "wrong-python",
        "no-from",
        "port",
    ],
)
def test_check_dockerfile_names_each_broken_rule(pkg, old, new, words):
    assert old in DOCKERFILE
    problems = pkg.packaging.container.check_dockerfile(DOCKERFILE.replace(old, new), PYTHON)
    assert len(problems) == 1 and words in problems[0], problems


def test_check_dockerfile_wants_the_projects_python(pkg):
    assert pkg.packaging.container.check_dockerfile(DOCKERFILE, "3.12") != []
