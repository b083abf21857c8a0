"""Image: the container image of the last build, built from its bento and pushed to the registry.

The image name is the one the Kubernetes overlays run (`images[0].newName` in deploy/<env>/), so
what CI pushes is what Argo CD pulls; the tag is the build version. Needs a Docker engine (CI has
one; `docker login` first). Prints the version last, for the workflow.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from ..core import cli, environments
from ..core.environments import DeployError
from ..core.records import BuildRecord
from .build import bento_name


def image_name() -> str:
    """The repository the overlays pull, the same in every Kubernetes environment."""
    names = {e.read()["images"][0]["newName"] for e in environments.known().values() if e.kind == "kubernetes"}
    if len(names) != 1:
        raise DeployError(f"error: the overlays in deploy/ name {sorted(names) or 'no'} images — name one repository")
    return str(names.pop())


def commands(tag: str, image: str) -> list[list[str]]:
    """`bentoml containerize` of bento `tag` as `image`, then `docker push`."""
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    return [[bentoml, "containerize", tag, "--image-tag", image], ["docker", "push", image]]


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("--registry", help="check the image's registry host is this one (e.g. ghcr.io)")
    args = parser.parse_args(argv)
    cli.start(args)
    version = BuildRecord.read().version
    name = image_name()
    if args.registry and name.partition("/")[0] != args.registry:
        raise DeployError(f"error: deploy/ pulls {name}, not from {args.registry} — fix newName in the overlays")
    if shutil.which("docker") is None:
        raise DeployError("error: no docker — build images where a Docker engine runs (the cd workflow does)")
    image = f"{name}:{version}"
    for command in commands(f"{bento_name()}:{version}", image):
        if subprocess.run(command).returncode != 0:
            raise DeployError(f"error: `{' '.join(command)}` failed — see its output above")
    print(f"pushed {image}")
    print(version)


if __name__ == "__main__":
    main()
