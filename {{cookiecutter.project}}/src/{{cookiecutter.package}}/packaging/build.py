"""Build: the package wheel, reports/build.json, the bento tagged `<version>-<commit>`, its Dockerfile check.

`make build` runs this. The version is the build's (core/buildinfo.py: what a release of this
commit would be called); the wheel is built from a copy of the package whose pyproject.toml
carries it, so the package inside the image (`__version__`), /metadata, the bento and the image
tag name one version. The bento is built from a staging folder that holds exactly what
`bentofile.yaml` names (its `include` files, the lock file, the Dockerfile template) plus that
wheel. Staging also lets a project live under a hidden folder (`~/.local/src/…`): BentoML refuses
every file whose absolute path has a part starting with a dot.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ..core import cli, paths
from ..core.artifacts import require, write_json
from ..core.buildinfo import build_info, describe
from ..core.environments import DeployError
from . import container, smoke

log = logging.getLogger(__name__)
BENTOFILE = paths.BENTOFILE


def bento_name() -> str:
    """The bento's name, from bentofile.yaml."""
    return str(yaml.safe_load(BENTOFILE.read_text())["name"])


def bento_store() -> Path:
    """BentoML's local bento store: `$BENTOML_HOME/bentos` (BentoML's default home is ~/bentoml)."""
    return Path(os.environ.get("BENTOML_HOME") or Path.home() / "bentoml") / "bentos"


def bento_tag(version: str) -> str:
    """The bento of `version`, or say how to build it.

    Read from the store's folders, not through `bentoml.get`: importing BentoML costs seconds, and
    `make promote` only needs to know the bento is there.
    """
    tag = f"{bento_name()}:{version}"
    if not (bento_store() / bento_name() / version / "bento.yaml").is_file():
        commit = version.rpartition("-")[2]
        raise DeployError(
            f"error: no bento {tag} — build it: `git switch --detach {commit} && make build`, then come back"
        )
    return tag


def tool(name: str) -> str:
    """A command of this project's virtual environment."""
    return str(Path(sys.executable).with_name(name))


def run(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: `{' '.join(command)}` failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def visible_tempdir() -> Path:
    """A new temporary folder whose path has no hidden part (BentoML refuses those)."""
    for base in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        resolved = Path(base).resolve()
        if resolved.is_dir() and not any(part.startswith(".") for part in resolved.parts):
            return Path(tempfile.mkdtemp(prefix="bento-build-", dir=resolved))
    raise SystemExit("error: no temporary folder without a hidden part in its path — set TMPDIR to one")


def stamped(pyproject: str, version: str) -> str:
    """pyproject.toml's text with the project's `version = "..."` line set to `version`."""
    new, count = re.subn(r'(?m)^version = "[^"]*"', f'version = "{version}"', pyproject, count=1)
    if count != 1:
        raise SystemExit(f'error: no `version = "..."` line in {paths.PYPROJECT} — restore it from git')
    return new


def wheel_source(version: str, into: Path) -> Path:
    """A copy of what the wheel is built from (pyproject.toml stamped with `version`, README, licence, src/)."""
    into.mkdir()
    (into / paths.PYPROJECT.name).write_text(stamped(paths.PYPROJECT.read_text(), version))
    for name in ("README.md", "LICENSE"):
        if Path(name).is_file():
            shutil.copy2(name, into / name)
    shutil.copytree("src", into / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return into


def stage(config: dict[str, Any], wheel: Path, into: Path) -> dict[str, Any]:
    """Copy what the bentofile names into `into`; the bentofile to build there (with the wheel)."""
    wanted = [str(config["python"]["requirements_txt"]), str(config["docker"]["dockerfile_template"])]
    for pattern in config.get("include", []):
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise SystemExit(f"error: bentofile.yaml includes {pattern!r}, which matches nothing — run `make pipeline`")
        wanted += matches
    for name in wanted:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(name, target)
    (into / "dist").mkdir()
    shutil.copy2(wheel, into / "dist" / wheel.name)
    staged = {**config, "python": {**config["python"], "wheels": [f"dist/{wheel.name}"]}}
    (into / BENTOFILE).write_text(yaml.safe_dump(staged, sort_keys=False))
    return staged


def build(check: bool = True) -> str:
    """Build everything; the bento's tag."""
    require(paths.MODEL, "train")
    config = yaml.safe_load(BENTOFILE.read_text())
    work = visible_tempdir()
    try:
        info = describe(build_info())
        log.info("building the wheel of %s", info["model_version"])
        source = wheel_source(info["model_version"], work / "source")
        run([tool("uv"), "build", "--wheel", "--quiet", "--out-dir", str(work / "wheel"), str(source)])
        (wheel,) = (work / "wheel").glob("*.whl")
        write_json(paths.BUILD_RECORD, info)
        smoke.write_expected()  # what the deployed service must answer: the model's in-process predictions
        context = work / "context"
        context.mkdir()
        stage(config, wheel, context)
        tag = f"{config['name']}:{info['version']}"
        subprocess.run([tool("bentoml"), "delete", "--yes", tag], capture_output=True)  # a rebuild replaces it
        log.info("building bento %s", tag)
        run([tool("bentoml"), "build", "--version", info["version"], "--output", "tag"], cwd=context)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if check:
        container.check(tag)
    return tag


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--no-check", action="store_true", help="skip the Dockerfile check")
    args = parser.parse_args(argv)
    cli.start(args)
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    print(f"built {build(check=not args.no_check)}")


if __name__ == "__main__":
    main()
