"""The lifecycle walkthrough: what the last `make demo` did, read from what it left behind.

Inputs, all written by the demo: `times.txt` in the demo folder (one line per project command, then
"in all"), the log `make docs` captures beside it (`<demo folder>.log`; its `==> demo step:` and
`==> make …` lines mark where each step and command begins) and the generated project's own reports.
Without a log the page still shows the times and the reports; without a demo it says to run one.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIME_LINE = re.compile(r"^\s*([0-9.]+) s  (.+)$")
STEP = "==> demo step: "
COMMAND = "==> make "
TIMES_HEADER = re.compile(r"^==> step times \(.*\):$")
DONE = "==> demo done"
HELP = re.compile(r"^([a-z][\w-]*):.*?## (.+)$")
MARKDOWN_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
SITE_FOLDER = "demo"  # where the project's reports appear on the site


class DemoError(Exception):
    """The demo's output cannot be read as one finished run; the message names the fix."""


@dataclass
class Command:
    line: str  # `make deploy ENV=local`
    seconds: float | None = None


@dataclass
class Step:
    name: str
    items: list[Command | str] = field(default_factory=list)  # its commands and the demo's own `==>` notes, in order
    output: list[str] = field(default_factory=list)

    @property
    def commands(self) -> list[Command]:
        return [item for item in self.items if isinstance(item, Command)]


@dataclass
class Demo:
    folder: Path
    project: Path | None
    times: list[tuple[float, str]]
    total: float | None
    preamble: list[str]
    steps: list[Step]  # empty without a log
    log: Path | None


def clean(line: str) -> str:
    """A log line as a terminal last showed it: colours dropped, a progress bar's final state kept."""
    return ANSI.sub("", line).rsplit("\r", 1)[-1].rstrip()


def read_times(text: str) -> tuple[list[tuple[float, str]], float | None]:
    """`times.txt` -> ([(seconds, command)], seconds in all)."""
    times, total = [], None
    for line in text.splitlines():
        match = TIME_LINE.match(line)
        if not match:
            continue
        seconds, what = float(match.group(1)), match.group(2).strip()
        if what == "in all":
            total = seconds
        else:
            times.append((seconds, what))
    return times, total


def read_log(text: str) -> tuple[list[str], list[Step], list[str]]:
    """A captured demo log -> (what came before the first step, the steps, the closing step times)."""
    preamble: list[str] = []
    steps: list[Step] = []
    closing: list[str] | None = None
    for raw in text.split("\n"):  # not splitlines(): a progress bar's \r is no line end
        line = clean(raw)
        if closing is not None:
            if line.startswith(DONE):
                break
            closing.append(line)
        elif TIMES_HEADER.match(line):
            closing = []
        elif line.startswith(STEP):
            steps.append(Step(line[len(STEP) :].strip()))
        elif not steps:
            preamble.append(line)
        elif line.startswith(COMMAND):
            steps[-1].items.append(Command(line[len("==> ") :].strip()))
            steps[-1].output.append(line)
        else:
            step = steps[-1]
            step.output.append(line)
            if line.startswith("==> ") and (not step.commands or is_demo_note(line)):
                step.items.append(line[len("==> ") :])
    return preamble, steps, closing or []


def is_demo_note(line: str) -> bool:
    """The demo recipe's own `==>` lines (merges, the monitor's verdicts), not a project command's."""
    return line.startswith(("==> merged ", "==> monitor: "))


def project_folder(demo: Path) -> Path | None:
    """The generated project in the demo folder (its `-dvc-storage` sibling is the local DVC remote)."""
    found = [p for p in sorted(demo.iterdir()) if p.is_dir() and not p.name.endswith("-dvc-storage")]
    return found[-1] if found else None


def read(demo: Path, log: Path) -> Demo:
    """The demo's output; raises DemoError when there is none, or when the log is not of this run."""
    times_file = demo / "times.txt"
    if not times_file.is_file():
        raise DemoError(
            f"no `make demo` output in {demo} (no times.txt) — run `make demo` first, or `make docs`, which runs it"
        )
    times, total = read_times(times_file.read_text())
    if total is None:
        raise DemoError(f"{times_file} has no `in all` line: the demo did not finish — run `make demo` again")
    project = project_folder(demo)
    if not log.is_file():
        return Demo(demo, project, times, total, [], [], None)
    preamble, steps, closing = read_log(log.read_bytes().decode("utf-8", errors="replace"))  # \r kept
    logged_times = read_times("\n".join(closing))
    if logged_times != (times, total):
        raise DemoError(
            f"{log} is not the log of the demo in {demo} (their step times differ) — delete it and run `make docs`"
        )
    commands = [c for s in steps for c in s.commands]
    if [c.line for c in commands] != [what for _, what in times]:
        raise DemoError(f"{log} names other commands than {times_file} — delete the log and run `make docs`")
    for command, (seconds, _) in zip(commands, times, strict=True):
        command.seconds = seconds
    return Demo(demo, project, times, total, preamble, steps, log)


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
    return command.split()[1] if len(command.split()) > 1 else ""


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


def page(demo: Demo, folder: str, log: str, page_path: str = "lifecycle.md") -> str:
    """The walkthrough's Markdown: the steps and their times, each step's output, the reports.

    `folder` and `log` are the demo folder and its log as the page names them.
    """
    helps = help_texts(demo.project)
    project = f"`{folder}/{demo.project.name}/`" if demo.project else "a project"
    lines = [
        "# Lifecycle walkthrough",
        "",
        f"What the last `make demo` did: it generated {project} with the default answers and ran its",
        f"lifecycle. Everything below is that run's own: the times from `{folder}/times.txt`, the output",
        f"from `{log}` (`make docs` captures it, running the demo again when the log is missing or older",
        "than the demo), the documents from the project it left.",
        "",
        "## Steps and times",
        "",
    ]
    if demo.steps:
        lines += ["| step | command | what it does | time |", "|---|---|---|---|"]
        for step in demo.steps:
            for index, command in enumerate(step.commands):
                name = f"[{step.name}](#{anchor(step.name)})" if index == 0 else ""
                what = escape(helps.get(target(command.line), ""))
                lines.append(f"| {name} | `{command.line}` | {what} | {seconds(command.seconds)} |")
            if not step.commands:
                lines.append(f"| [{step.name}](#{anchor(step.name)}) | | | |")
    else:
        lines += [
            f"No log of this run in `{log}` (`make docs` writes one): the commands and their times only.",
            "",
            "| command | what it does | time |",
            "|---|---|---|",
        ]
        lines += [f"| `{what}` | {escape(helps.get(target(what), ''))} | {seconds(s)} |" for s, what in demo.times]
    lines += [
        f"| **in all** | | | **{seconds(demo.total)}** |"
        if demo.steps
        else f"| **in all** | | **{seconds(demo.total)}** |"
    ]
    if demo.preamble:
        lines += ["", "## generate", "", "The demo's recipe as make echoes it, then cookiecutter's answer:"]
        lines += output_block(demo.preamble, f"output ({len(demo.preamble)} lines)")
    for step in demo.steps:
        lines += ["", f"## {step.name}", ""]
        for item in step.items:
            if isinstance(item, str):
                lines.append(f"- {escape(item)}")
                continue
            help_text = helps.get(target(item.line))
            lines.append(f"- `{item.line}` ({seconds(item.seconds)})" + (f": {escape(help_text)}" if help_text else ""))
        lines += output_block(step.output, f"output ({len(step.output)} lines)")
    if demo.project:
        documents = reports(demo.project)
        lines += ["", "## What it left", ""]
        if documents:
            lines += ["The project's own documents as this run wrote them:", ""]
            for title, rel in documents:
                link = relative_link(page_path, site_path(rel))
                lines.append(f"- [{title}]({link}) (`{rel}`)")
        else:
            lines.append("This run wrote no reports (its DEMO_STEPS stopped before the pipeline).")
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
