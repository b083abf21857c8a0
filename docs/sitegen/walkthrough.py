"""The lifecycle walkthrough: what the last `make demo` did, read from what it left behind.

Inputs, all written by the demo (demo/run.py): its events (`events.jsonl` in the demo folder, read with
demo/events.py: each step, what it proves, its commands with their times and exit codes, the verdicts
it checked), each step's output (`logs/` beside them) and the generated project's own reports. A demo
that is missing, did not finish, or lacks a step's log is a DemoError naming the command to run.
"""

from __future__ import annotations

import html
import re
from pathlib import Path, PurePosixPath

from demo import events
from demo.events import Run, StepRun

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HELP = re.compile(r"^([a-z][\w-]*):.*?## (.+)$")
MARKDOWN_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
SITE_FOLDER = "demo"  # where the project's reports appear on the site

DemoError = events.EventsError  # the demo's output cannot be read as one finished run; the message names the fix


def clean(line: str) -> str:
    """A log line as a terminal last showed it: colours dropped, a progress bar's final state kept."""
    return ANSI.sub("", line).rsplit("\r", 1)[-1].rstrip()


def output(step: StepRun) -> list[str]:
    """A step's log, line by line as a terminal last showed it."""
    text = step.log.read_bytes().decode("utf-8", errors="replace")
    return [clean(line) for line in text.split("\n")]  # not splitlines(): a progress bar's \r is no line end


def read(demo: Path) -> Run:
    """The finished demo run in the folder `demo`; DemoError when there is none or a step's log is missing."""
    run = events.read(demo)
    if run.failed or not run.finished:
        where = f"stopped at step {run.failed}" if run.failed else "did not finish"
        raise DemoError(f"the demo in {demo} {where} — run `make demo` again (or `make docs`, which runs it)")
    missing = [step.log for step in run.steps if not step.log.is_file()]
    if missing:
        raise DemoError(f"{missing[0]} is missing: the demo in {demo} is incomplete — run `make demo` again")
    return run


def help_texts(project: Path | None) -> dict[str, str]:
    """Target -> its `## ` help text in the generated project's Makefile."""
    if project is None or not (project / "Makefile").is_file():
        return {}
    found = {}
    for line in (project / "Makefile").read_text().splitlines():
        match = HELP.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def target(command: str) -> str:
    """The project target a command runs: `deploy` of `make deploy ENV=local`; "" for any other command."""
    words = command.split()
    return words[1] if len(words) > 1 and words[0] == "make" else ""


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def output_block(lines: list[str], summary: str) -> list[str]:
    body = html.escape("\n".join(lines).strip("\n"), quote=False)
    return ["", f"<details><summary>{html.escape(summary)}</summary>", f"<pre><code>{body}</code></pre>", "</details>"]


# --- the project's reports, shown on the site -----------------------------------------------------


def reports(project: Path) -> list[tuple[str, str]]:
    """(title, path in the project) of each document worth reading after the demo, in reading order."""
    found = []

    def latest(folder: str) -> str | None:
        dated = sorted((project / folder).glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].md"))
        return f"{folder}/{dated[-1].name}" if dated else None

    for title, rel in (
        ("Evaluation report", "docs/evaluation_report.md"),
        ("The monitoring report (the day's last run)", latest("reports/monitoring")),
        ("The improvement report", latest("reports/improvement")),
        ("CHANGELOG.md", "CHANGELOG.md"),
    ):
        if rel and (project / rel).is_file():
            found.append((title, rel))
    for note in sorted((project / "reports" / "releases").glob("*.md")):
        found.append((f"Release notes {note.stem}", f"reports/releases/{note.name}"))
    return found


def site_path(rel: str) -> str:
    return f"{SITE_FOLDER}/{rel}"


def mirrored(project: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """The reports as site pages ({site path: Markdown}) and the files they show ({site path: file}).

    A link to a file the site does not carry (a CSV, another document) becomes its path in a code span.
    """
    pages = {rel: project / rel for _, rel in reports(project)}
    texts: dict[str, str] = {}
    assets: dict[str, Path] = {}
    for rel, path in pages.items():
        folder = PurePosixPath(rel).parent

        def relink(match: re.Match[str], folder: PurePosixPath = folder) -> str:
            bang, text, link = match.groups()
            if "://" in link or link.startswith("#"):
                return match.group(0)
            linked = normalise(folder / link.split("#")[0])
            if linked in pages:
                return match.group(0)
            if bang and (project / linked).is_file():
                assets[site_path(linked)] = project / linked
                return match.group(0)
            return f"{text} (`{linked}`)"

        texts[site_path(rel)] = MARKDOWN_LINK.sub(relink, path.read_text())
    return texts, assets


def normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


# --- the page -----------------------------------------------------------------------------------


def missing_page(reason: str) -> str:
    return "\n".join(
        [
            "# Lifecycle walkthrough",
            "",
            "This page shows the real output of `make demo`, and this build found none to show:",
            "",
            f"> {reason}",
            "",
        ]
    )


def page(demo: Run, folder: str, page_path: str = "lifecycle.md") -> str:
    """The walkthrough's Markdown: the steps, what each proves, their commands and times, their output,
    the reports. `folder` is the demo folder as the page names it."""
    helps = help_texts(demo.project)
    project = f"`{folder}/{demo.project.name}/`" if demo.project else "a project"
    lines = [
        "# Lifecycle walkthrough",
        "",
        f"What the last `make demo` did: it generated {project} with the default answers and ran its",
        "lifecycle, step by step as demo/scenario.py lists them. Everything below is that run's own: the",
        f"steps, commands and times from `{folder}/{events.FILE}`, each step's output from its log in",
        f"`{folder}/{events.LOGS}/`, the documents from the project it left (`make docs` runs the demo",
        "again when its events are missing or of an unfinished run).",
        "",
        "## Steps and times",
        "",
        "| step | command | what it does | time |",
        "|---|---|---|---|",
    ]
    for step in demo.steps:
        for index, command in enumerate(step.commands):
            name = f"[{step.name}](#{anchor(step.name)})" if index == 0 else ""
            what = escape(helps.get(target(command.command), ""))
            lines.append(f"| {name} | `{command.command}` | {what} | {seconds(command.seconds)} |")
        if not step.commands:
            lines.append(f"| [{step.name}](#{anchor(step.name)}) | | | {seconds(step.seconds)} |")
    lines.append(f"| **in all** | | | **{seconds(demo.seconds)}** |")
    for step in demo.steps:
        lines += ["", f"## {step.name}", "", f"What it proves: {escape(step.proves)} ({seconds(step.seconds)}).", ""]
        for item in step.items:
            if isinstance(item, str):
                lines.append(f"- {escape(item)}")
                continue
            help_text = helps.get(target(item.command))
            lines.append(
                f"- `{item.command}` ({seconds(item.seconds)})" + (f": {escape(help_text)}" if help_text else "")
            )
        shown = output(step)
        lines += output_block(shown, f"output ({len(shown)} lines, {folder}/{step.log.relative_to(demo.folder)})")
    if demo.project:
        documents = reports(demo.project)
        lines += ["", "## What it left", ""]
        if documents:
            lines += ["The project's own documents as this run wrote them:", ""]
            for title, rel in documents:
                link = relative_link(page_path, site_path(rel))
                lines.append(f"- [{title}]({link}) (`{rel}`)")
        else:
            lines.append("This run wrote no reports (its steps stopped before the pipeline).")
    return "\n".join(lines) + "\n"


def relative_link(from_page: str, to_page: str) -> str:
    depth = len(PurePosixPath(from_page).parent.parts)
    return "../" * depth + to_page


def anchor(heading: str) -> str:
    """The id MkDocs' toc extension gives a heading."""
    slug = re.sub(r"[^\w\s-]", "", heading.lower()).strip()
    return re.sub(r"[-\s]+", "-", slug)


ESCAPES = str.maketrans({"|": "\\|", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    return text.translate(ESCAPES)
