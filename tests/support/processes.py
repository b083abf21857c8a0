"""Running commands: interpreters, processes, and the environment a generated project's commands get."""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

OUTPUT_TAIL = 3000  # characters of a failed command's output shown in the assertion


def _runs(executable: str) -> bool:
    try:
        return subprocess.run([executable, "-c", "import sys"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/versions/([\d.]+)", path)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def find_interpreter(version: str) -> str:
    """An interpreter for a `python_version` answer: python3.X on PATH, a pyenv build, or this one.

    pyenv shims exist for every version but exit 127 unless that version is selected, so a
    candidate counts only if it runs.
    """
    name = f"python{version}"
    on_path = shutil.which(name)
    if on_path and _runs(on_path):
        return on_path
    builds = glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/{name}"))
    for candidate in sorted(builds, key=_version_key, reverse=True):
        if _runs(candidate):
            return candidate
    warnings.warn(f"no Python {version} found: falling back to {sys.executable}", stacklevel=2)
    return sys.executable


def interpreter_version(executable: str | Path) -> str:
    """'3.X' of an interpreter."""
    out = subprocess.run(
        [str(executable), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run(
    cmd: Sequence[object],
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run a command with stdout and stderr merged; on failure show the command and the output's tail."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"`{' '.join(map(str, cmd))}` exited {proc.returncode} in {cwd}; last output:\n{proc.stdout[-OUTPUT_TAIL:]}"
        )
    return proc


def outer_bin_dir() -> Path | None:
    """The bin directory of the virtual environment running the tests, if it is one."""
    if sys.prefix == sys.base_prefix:
        return None
    return Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")


# Variables of the test run that must not leak into a generated project's commands.
NOT_INHERITED = frozenset(
    {
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "PYTHONPATH",
        "PYTHONHOME",
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "MAKEOVERRIDES",
        "PYTEST_ADDOPTS",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_CURRENT_TEST",
    }
)


def project_env(dvc_site_cache_dir: Path, bentoml_home: Path | None = None) -> dict[str, str]:
    """Environment for commands run inside a generated project, as a user's fresh shell has it.

    The test runner's own virtual environment is taken off PATH (so the project cannot lean on
    its tools), make's variables from an outer `make` and the runner's own `MODELOPS_*` settings
    are dropped, HOME is kept (uv's and pre-commit's caches are shared between projects), DVC's
    site cache goes to a temp dir and, given `bentoml_home`, BentoML's store (bentos, models)
    goes there instead of ~/bentoml.
    """
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("MODELOPS_")}
    outer = outer_bin_dir()
    if outer is not None:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != outer)
    env["DVC_SITE_CACHE_DIR"] = str(dvc_site_cache_dir)
    env["DVC_NO_ANALYTICS"] = "1"
    env["BENTOML_DO_NOT_TRACK"] = "true"
    if bentoml_home is not None:
        env["BENTOML_HOME"] = str(bentoml_home)
    return env


def uv_only_folder(folder: Path) -> Path | None:
    """`folder` holding only a link to the test runner's uv, for a project's PATH as setup-uv puts uv on a runner's
    (`make install` then makes the venv with it); None when the runner's environment has no uv."""
    outer = outer_bin_dir()
    uv = outer / "uv" if outer is not None else None
    if uv is None or not uv.is_file():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "uv").exists():
        (folder / "uv").symlink_to(uv)
    return folder


def activated_env(env: dict[str, str], project: Path) -> dict[str, str]:
    """`env` with the project's .venv activated, as after `source .venv/bin/activate`."""
    venv = project / ".venv"
    return {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}


@functools.cache
def project_services(project: Path) -> ModuleType:
    """A generated project's `tests/services.py` (stdlib only), imported by its path: the one way the
    template's tests start its S3 server and PostgreSQL, as the project's own tests do."""
    spec = importlib.util.spec_from_file_location(
        f"services_of_{abs(hash(project))}", project / "tests" / "services.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
