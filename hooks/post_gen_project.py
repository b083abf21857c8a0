"""Finish the generated repo: drop what the answers exclude, bring in the data, init git and DVC, commit.

Runs inside the new project folder. Each set-up step says what to run by hand when a tool is missing.
Under cruft (`cruft update`, `cruft diff`: two renders in temporary folders, diffed) it only shapes
the files; the set-up steps belong to the project, once.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Answers arrive as one JSON document in a raw string, so this file stays valid Python before
# rendering and quotes or backslashes in an answer cannot break it.
CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

# Option → the paths it removes when its answer is not the one named.
REMOVE_WHEN = {
    ("task", "classification"): ["tests/model/test_regression.py"],
    ("task", "regression"): ["tests/model/test_classification.py"],
    ("ci", "gitlab"): [".github", "deploy/argocd/notifications.yaml"],
    ("ci", "github"): [".gitlab-ci.yml", "deploy/argocd/notifications-gitlab.yaml"],
    # With both, Argo CD reports to GitHub, where the production promotion's workflow runs.
    ("ci", "both"): ["deploy/argocd/notifications-gitlab.yaml"],
}
# Option → (variant, the name it takes) when its answer is the one named: whole-file variants.
RENAME_WHEN = {
    ("ci", "gitlab"): [("deploy/argocd/notifications-gitlab.yaml", "deploy/argocd/notifications.yaml")],
}
LICENCE_DIR = Path(".licenses")
SOURCE_CSV = Path("data/external/source.csv")
# Labelled production records `make retrain` adds: empty files in git until the first retraining
# moves the folder to DVC (`dvc add`), so a fresh clone runs the pipeline without a DVC remote.
PRODUCTION = Path("data/production")
PRODUCTION_FILES = ("train.csv", "recent.csv", "recent_inputs.csv", "quarantine.csv")
# The default DVC remote: a sibling folder of the repo, or the `dvc` prefix of the bucket (the
# prediction logs go to s3://<bucket>/logs/<env>, set by the deploy overlays).
REMOTE_URL = (
    f"s3://{CONTEXT['s3_bucket']}/dvc" if CONTEXT["storage"] == "s3" else f"../{CONTEXT['project']}-dvc-storage"
)
REMOTE_ENDPOINT = CONTEXT["s3_endpoint"] if CONTEXT["storage"] == "s3" else ""  # empty: AWS S3
DVC_CONFIG = Path(".dvc/config")
# Stages depend on whole source folders: byte-code caches in them must not change their hash.
DVCIGNORE = "# Python byte-code is not a dependency of any stage\n__pycache__/\n*.pyc\n"
# cookiecutter records where it writes (`_output_dir`); cruft renders through
# cookiecutter.generate_files with a context of its own (`_template`, `_commit`), which has none.
RENDER_ONLY = "_output_dir" not in CONTEXT
# The answers file is cruft's: what template updates need (the template, its commit, the answers).
ANSWERS_FILE = Path(".cruft.json")
# What template updates must never touch: git's and DVC's own folders, what `dvc init` and this
# hook set up, the state file cruft rewrites itself, and the data the project owns (production
# records, a bring-your-own CSV). DVC's pipeline outputs are in no render: cruft leaves them alone.
SKIP = [".git", ".dvc", ".dvcignore", ".cruft.json", "data/production", "data/external"]


def remove_excluded() -> None:
    """Delete the files the answers do not keep; give the variants they choose their names."""
    for (option, value), paths in REMOVE_WHEN.items():
        if CONTEXT[option] == value:
            for path in map(Path, paths):
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for (option, value), renames in RENAME_WHEN.items():
        if CONTEXT[option] == value:
            for variant, name in renames:
                Path(variant).rename(name)


def choose_licence() -> None:
    """Keep the chosen licence text as LICENSE."""
    (LICENCE_DIR / CONTEXT["license"]).rename("LICENSE")
    shutil.rmtree(LICENCE_DIR)


def where_run() -> Path:
    """The folder cookiecutter was run in ($PWD; the hook itself runs in the new project)."""
    return Path(os.environ.get("PWD") or CONTEXT["_output_dir"])


def copy_csv() -> None:
    """Copy a bring-your-own CSV into data/external/ (tracked by DVC, not git)."""
    source = where_run() / Path(CONTEXT["csv_path"]).expanduser()
    SOURCE_CSV.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, SOURCE_CSV)
    print(f"copied {source} to {SOURCE_CSV}")


def make_production_folder() -> None:
    """Empty production data files: the pipeline depends on them before any retraining fills them."""
    PRODUCTION.mkdir(parents=True, exist_ok=True)
    for name in PRODUCTION_FILES:
        (PRODUCTION / name).touch()


def git_output(*args: str, cwd: Path) -> str | None:
    """A git command's output in `cwd`, or None when git is missing or the command fails."""
    tool = find_tool("git")
    if tool is None:
        return None
    result = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def template_source() -> tuple[str, str | None, str | None]:
    """Where cruft fetches the template from, the commit generated from, and the template's folder in it.

    A local template is recorded as the absolute path of its git repository; one cookiecutter
    cloned (a URL, `gh:owner/name`) as the clone's origin. Outside git there is no commit to record.
    """
    given = CONTEXT["_template"]
    folder = where_run() / CONTEXT["_repo_dir"]  # the template's folder: a path as given, or cookiecutter's clone
    top = git_output("rev-parse", "--show-toplevel", cwd=folder) if folder.is_dir() else None
    commit = git_output("rev-parse", "HEAD", cwd=folder) if top else None
    if top is None or commit is None:
        return given, None, None
    inside = folder.resolve().relative_to(Path(top).resolve()).as_posix()
    directory = None if inside == "." else inside
    if git_output("cat-file", "-e", f"HEAD:{directory or '.'}/cookiecutter.json", cwd=folder) is None:
        return given, None, None  # a folder inside a repository that does not commit the template
    if git_output("status", "--porcelain", "--", ".", cwd=folder):
        print(f"warning: the template has uncommitted changes; {ANSWERS_FILE} records HEAD", file=sys.stderr)
    local = (where_run() / Path(given).expanduser()).is_dir()
    origin = None if local else git_output("remote", "get-url", "origin", cwd=folder)
    return origin or str(Path(top).resolve()), commit, directory


def write_answers() -> None:
    """cruft's state file, committed with the project, so the project can take template updates."""
    template, commit, directory = template_source()
    if commit is None:
        print(
            f"warning: {template} is no committed git repository, so {ANSWERS_FILE} records no template commit"
            f" — set its `commit` to the template commit this project was generated from before `make template-update`",
            file=sys.stderr,
        )
    # The answers only: cruft renders each commit with them, deriving the private values anew.
    context = {k: v for k, v in CONTEXT.items() if not k.startswith("_")} | {"_template": template, "_commit": commit}
    state = {
        "template": template,
        "commit": commit,
        "checkout": CONTEXT.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": directory,
        "skip": SKIP,
    }
    # as cruft writes it, so its rewrites after an update change only what changed
    ANSWERS_FILE.write_text(json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n")


def find_tool(name: str) -> str | None:
    """A tool on PATH, or beside the Python running cookiecutter (its venv)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) or (str(beside) if beside.exists() else None)


def run(*command: str, fix: str) -> bool:
    """Run one set-up command; when it cannot run, say what to run by hand and go on."""
    tool = find_tool(command[0])
    if tool is None:
        print(f"warning: {command[0]} not found — {fix}", file=sys.stderr)
        return False
    result = subprocess.run([tool, *command[1:]], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"warning: `{' '.join(command)}` failed: {result.stderr.strip()} — {fix}", file=sys.stderr)
        return False
    return True


def dvc_config(remote_url: str, endpoint: str = "") -> str:
    """What `dvc config core.autostage true`, `dvc remote add --default storage <url>` (and `dvc remote
    modify storage endpointurl <endpoint>`) write into the empty .dvc/config `dvc init` leaves, in
    DVC's own format: written here, because each of those commands costs a DVC start-up (~0.7 s
    quiet, 1.4 s loaded) in every generation. DVC keeps a relative path relative to the config's
    folder (.dvc/), as `dvc remote add` rewrites it; a URL stays as given."""
    if "://" not in remote_url and not Path(remote_url).is_absolute():
        remote_url = f"../{remote_url}"
    config = f"[core]\n    autostage = true\n    remote = storage\n['remote \"storage\"']\n    url = {remote_url}\n"
    return config + (f"    endpointurl = {endpoint}\n" if endpoint else "")


def git_identity() -> list[str]:
    """Author flags for the first commit when git has no identity configured."""
    configured = subprocess.run(["git", "config", "user.email"], capture_output=True).returncode == 0
    return [] if configured else ["-c", "user.name=cookiecutter-modelops", "-c", "user.email=modelops@localhost"]


def main() -> None:
    remove_excluded()
    choose_licence()
    if RENDER_ONLY:
        return
    write_answers()
    if CONTEXT["dataset"] == "csv":
        copy_csv()
    make_production_folder()
    if not run("git", "init", "--quiet", "--initial-branch=main", fix="install git, then run `git init`"):
        return
    dvc_fix = "run `make install`, then `.venv/bin/dvc init` and `.venv/bin/dvc remote add -d storage <folder>`"
    if run("dvc", "init", "--quiet", fix=dvc_fix):
        with open(".dvcignore", "a") as handle:
            handle.write(DVCIGNORE)
        DVC_CONFIG.write_text(dvc_config(REMOTE_URL, REMOTE_ENDPOINT))
        if CONTEXT["dataset"] == "csv":
            run("dvc", "add", "--quiet", str(SOURCE_CSV), fix=f"run `.venv/bin/dvc add {SOURCE_CSV}`")
    run("git", "add", "--all", fix="run `git add --all`")
    message = "chore: generate project from cookiecutter-modelops"
    if run("git", *git_identity(), "commit", "--quiet", "-m", message, fix="run `git commit`"):
        print(f"created {Path.cwd()} — next: cd {CONTEXT['project']} && make install pipeline")


if __name__ == "__main__":
    main()
