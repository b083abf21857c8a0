"""Container: check the Dockerfile of a built bento (what `bentoml containerize` would build).

No Docker engine is needed: the checks read env/docker/Dockerfile — base image and its Python
version, a non-root runtime user, a HEALTHCHECK on /readyz, the exposed port. CI builds the image.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TARGET_PYTHON_FILE = Path(".python-version")


def check_dockerfile(text: str, python_version: str) -> list[str]:
    """Every rule the Dockerfile breaks (empty when it passes)."""
    problems = []
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    if not base or not base.group(1).startswith(f"python:{python_version}-"):
        problems.append(f"base image is {base.group(1) if base else 'missing'}, expected python:{python_version}-*")
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    if not users or users[-1] in ("root", "0"):
        problems.append(f"the image runs as {users[-1] if users else 'root'}: add a non-root USER")
    healthcheck = re.search(r"^HEALTHCHECK\b.*", text, re.MULTILINE)
    if not healthcheck or "/readyz" not in text[healthcheck.start() : healthcheck.start() + 400]:
        problems.append("no HEALTHCHECK on /readyz (see Dockerfile.j2)")
    if not re.search(r"^EXPOSE\s+3000\b", text, re.MULTILINE):
        problems.append("port 3000 is not exposed")
    return problems


def bento_dockerfile(tag: str) -> Path:
    """The Dockerfile inside a built bento."""
    import bentoml

    try:
        return Path(bentoml.get(tag).path) / "env" / "docker" / "Dockerfile"
    except bentoml.exceptions.NotFound as exc:
        raise SystemExit(f"error: no bento {tag} — run `make build`") from exc


def check(tag: str) -> None:
    """Check the Dockerfile of bento `tag`; exit non-zero naming every broken rule."""
    dockerfile = bento_dockerfile(tag)
    python_version = TARGET_PYTHON_FILE.read_text().strip()
    problems = check_dockerfile(dockerfile.read_text(), python_version)
    for problem in problems:
        print(f"Dockerfile check FAILED: {problem} ({dockerfile})", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print(f"Dockerfile ok: python:{python_version} base, non-root user, HEALTHCHECK /readyz ({dockerfile})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tag", help="bento tag, e.g. name:0.1.0-abc1234")
    check(parser.parse_args(argv).tag)


if __name__ == "__main__":
    main()
