"""The documentation site cannot drift: it builds with --strict, and what it says follows the template.

Every page but docs/design.md and docs/benchmarks.md is generated at build time (docs/hooks.py →
docs/sitegen/). These tests build the site into a temp folder and check the generated pages against
the files they come from by means of their own: support/options.py reads cookiecutter.json, a plain
grep finds the `error:` messages, the Makefiles give the targets. The walkthrough is built from a
demo folder written here with demo/events.py (the events of a run of the real scenario, each step's
log, a project's reports); the demo's runner runs on a tiny template of its own; `make docs` itself
runs for real with a demo of one cheap step (`slow`: it generates a project twice).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # demo/, as `python -m demo` finds it (see below)
import sitegen  # noqa: E402 - it reads the demo's events with demo/ (pytest.ini's pythonpath lacks the root)
from sitegen import troubleshooting  # noqa: E402
from support.baking import bake_ok
from support.markdown import (
    MADE_BY_COMMANDS,
    PROJECT_FOLDER,
    make_calls,
    makefile_targets,
    path_mentions,
    spans,
    unfound_paths,
)
from support.matrix import HIDDEN_SPACED_FOLDER
from support.options import CHOICES, CONTEXT, PROMPTS, REPO_ROOT, rendered_defaults
from support.processes import outer_bin_dir, project_env, run
from support.repos import copy_working_tree, dvc_outputs

from demo import events  # noqa: E402
from demo import run as demo_run  # noqa: E402
from demo.scenario import SCENARIO, Field, Make, Step  # noqa: E402

PROJECT_TEMPLATE = REPO_ROOT / "{{cookiecutter.project}}"
PACKAGE_SOURCE = PROJECT_TEMPLATE / "src" / "{{cookiecutter.package}}"
HOOK = REPO_ROOT / "hooks" / "pre_gen_project.py"
NAV = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text().replace("!ENV", ""))["nav"]
MKDOCS = [sys.executable, "-m", "mkdocs"]


# --- a demo folder as `make demo` leaves it ---------------------------------------------------------

GENERATE = (
    "generate",
    "cookiecutter renders the default answers",
    ["cookiecutter --no-input --output-dir build/demo ."],
)
# (step, what it proves, [its commands, or the demo's own notes as `==> …`]): the real scenario's steps.
DEMO_RUN = [GENERATE] + [
    (
        step.name,
        step.proves,
        [item for make in step.commands for item in (make.line, *([f"==> {make.note}"] if make.note else []))],
    )
    for step in SCENARIO
]
SECONDS = iter(f"{n}.{n % 10}" for n in range(3, 1000, 7))
DEMO_TIMES = [(next(SECONDS), item) for _, _, items in DEMO_RUN for item in items if not item.startswith("==> ")]
DEMO_TOTAL = "981.4"
DAY = "2026-01-02"


def log_text(items: list[str]) -> str:
    """A step's log as the runner writes it: each command's line, then its output, colours and
    a progress bar's carriage returns included."""
    lines: list[str] = []
    for item in items:
        if item.startswith("==> "):
            lines.append(item)
        else:
            lines += [f"$ {item}", f"\x1b[32moutput of {item}\x1b[0m", " 10%\r 50%\r100% done"]
    return "\n".join(lines) + "\n"


def write_run(folder: Path, project: str, failed: str | None = None) -> None:
    """The events and logs of a run of DEMO_RUN (stopped at the step `failed`, if given)."""
    record = events.Events(folder / events.FILE)
    record.start()
    record.write(events.DemoStarted(tuple(step for step, _, _ in DEMO_RUN[1:]), 10, 25))
    times = iter(DEMO_TIMES)
    for index, (step, proves, items) in enumerate(DEMO_RUN):
        log = f"{events.LOGS}/{index:02d}-{step}.log"
        (folder / log).parent.mkdir(parents=True, exist_ok=True)
        (folder / log).write_text(log_text(items))
        record.write(events.StepStarted(step, proves, log))
        for item in items:
            if item.startswith("==> "):
                record.write(events.Noted(step, item.removeprefix("==> ")))
            else:
                seconds, _ = next(times)
                record.write(events.CommandFinished(step, item, float(seconds), 0))
        if step == "generate":
            record.write(events.Generated(project))
        record.write(events.StepFinished(step, 1.0, "it failed" if step == failed else None))
        if step == failed:
            break
    record.write(events.DemoFinished(float(DEMO_TOTAL), failed))


PNG = bytes.fromhex("89504e470d0a1a0a")  # enough of a PNG for a site to copy


def write_demo(folder: Path) -> Path:
    """A demo folder (the events, each step's log, the project's reports); returns the folder."""
    project = folder / "breast-cancer-classifier"
    (folder / "breast-cancer-classifier-dvc-storage").mkdir(parents=True)
    shutil.copy2(PROJECT_TEMPLATE / "Makefile", project.parent / "Makefile.tmp")
    project.mkdir()
    (project.parent / "Makefile.tmp").rename(project / "Makefile")
    files = {
        f"reports/monitoring/{DAY}.md": f"# Monitoring report: RETRAIN\n\n![Drift]({DAY}-drift.png)\n\n"
        "Decided from [the summary](summary.json).\n",
        f"reports/monitoring/{DAY}-drift.png": PNG,
        "reports/monitoring/summary.json": "{}\n",
        f"reports/improvement/{DAY}.md": "# Improvement: proposed\n\n![search](tuning.png)\n",
        "reports/improvement/tuning.png": PNG,
        "docs/evaluation_report.md": "# Evaluation report\n\n![cm](../reports/plots/confusion_matrix.png)\n",
        "reports/plots/confusion_matrix.png": PNG,
        "CHANGELOG.md": "# Changelog\n\n## v0.1.0\n\nNotes: [v0.1.0](reports/releases/v0.1.0.md).\n",
        "reports/releases/v0.1.0.md": "# v0.1.0\n",
    }
    for rel, content in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    write_run(folder, project.name)
    return folder


# --- building the site ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    site: Path
    output: str
    returncode: int

    def html(self, page: str) -> str:
        return (self.site / page / "index.html").read_text()

    def text(self, page: str) -> str:
        """A page's visible text (tags dropped, entities decoded), whitespace collapsed."""
        return " ".join(TextOf.of(self.html(page)).split())


class TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @classmethod
    def of(cls, markup: str) -> str:
        parser = cls()
        parser.feed(markup)
        return "".join(parser.parts)


def mkdocs_build(site: Path, demo_dir: Path) -> Built:
    env = {**os.environ, "DOCS_DEMO_DIR": str(demo_dir), "SOURCE_DATE_EPOCH": "0"}
    proc = run([*MKDOCS, "build", "--strict", "--site-dir", site], cwd=REPO_ROOT, env=env, check=False)
    return Built(site, proc.stdout, proc.returncode)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo-output") / "demo")


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_dir) -> Built:
    result = mkdocs_build(tmp_path_factory.mktemp("site") / "site", demo_dir)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.output[-3000:]}"
    return result


@pytest.fixture(scope="module")
def pages(demo_dir) -> dict[str, str]:
    """The generated pages' Markdown, as the hook hands it to MkDocs."""
    return sitegen.build(REPO_ROOT, demo_dir).pages


def nav_pages(nav) -> list[str]:
    found = []
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            found += nav_pages(value) if isinstance(value, list) else [value]
    return found


def test_the_site_builds_strictly_with_every_page_of_its_nav(built):
    missing = [p for p in nav_pages(NAV) if not (built.site / Path(p).with_suffix("") / "index.html").is_file()]
    missing = [m for m in missing if m != "index.md" or not (built.site / "index.html").is_file()]
    assert missing == [], f"the site has no page for {missing}:\n{built.output[-2000:]}"
    assert "WARNING" not in built.output, built.output


def test_the_same_sources_build_the_same_bytes(built, demo_dir, tmp_path):
    again = mkdocs_build(tmp_path / "site", demo_dir)
    assert again.returncode == 0, again.output[-2000:]
    files = sorted(p.relative_to(built.site) for p in built.site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.site) for p in again.site.rglob("*") if p.is_file())
    differ = [str(f) for f in files if (built.site / f).read_bytes() != (again.site / f).read_bytes()]
    assert differ == [], f"two builds from the same sources differ in {differ}"


# --- quick start: the README's own sections ----------------------------------------------------------


@pytest.mark.parametrize("heading", sitegen.QUICK_START)
def test_the_quick_start_quotes_the_readme_section_whole(pages, heading):
    readme = (REPO_ROOT / "README.md").read_text()
    body = sitegen.readme.section(readme, heading)
    assert body and sitegen.readme.relink(body) in pages["index.md"], f"index.md does not quote `## {heading}`"


def test_the_quick_start_names_the_two_commands(built):
    text = built.text("")
    assert "make demo" in text and "make test" in text, text[:1000]


# --- options: cookiecutter.json, row by row ----------------------------------------------------------


CELL_TOKEN = re.compile(r"(`+).*?(?<!`)\1(?!`)|\\\||\||[^`|\\]+|.", re.S)  # a code span, \|, |, text


def cells(row: str) -> list[str]:
    """A table row's cells: split on `|` outside code spans and not escaped."""
    found, current = [], ""
    for token in CELL_TOKEN.finditer(row.strip().removeprefix("|").removesuffix("|")):
        if token.group(0) == "|":
            found.append(current.strip())
            current = ""
        else:
            current += token.group(0)
    return [*found, current.strip()]


def table_rows(markdown: str, marker: str) -> list[list[str]]:
    """The rows of the first table after the line holding `marker`, header and separator left out."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if not line.strip() and not rows:
            continue
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows[2:]


def options_rows(pages) -> dict[str, list[str]]:
    rows = table_rows(pages["options.md"], "<!-- options-table")
    return {spans(row[0])[0]: row for row in rows}


def test_the_options_table_lists_every_prompt_in_order(pages):
    assert list(options_rows(pages)) == PROMPTS


@pytest.mark.parametrize("prompt", PROMPTS)
def test_the_options_table_gives_the_question_default_and_every_choice(pages, prompt):
    row = options_rows(pages).get(prompt)
    assert row is not None, f"options.md has no row for `{prompt}`"
    _, question, default, choices, purpose = row
    label = CONTEXT["__prompts__"][prompt]
    label = label["__prompt__"] if isinstance(label, dict) else label
    assert question.replace("&lt;", "<").replace("&gt;", ">") == label
    expected = str(rendered_defaults()[prompt])
    assert (spans(default)[:1] == [expected]) if expected else default.startswith("*empty*"), (
        f"`{prompt}`: default {expected!r}, the table says {default!r}"
    )
    if prompt in CHOICES:
        shown = [re.sub(r"^`|`$", "", piece.split(":")[0]) for piece in choices.split("<br>")]
        assert shown == [str(c) for c in CHOICES[prompt]], f"`{prompt}`: {shown} vs {CHOICES[prompt]}"
        labels = CONTEXT["__prompts__"][prompt]
        for choice in CHOICES[prompt] if isinstance(labels, dict) else []:
            assert f"`{choice}`: {labels[choice]}" in choices, f"`{prompt}`: no label for `{choice}`"
    else:
        assert choices == "free text", f"`{prompt}`: {choices!r}"
    assert purpose, f"`{prompt}`: nothing under 'what it sets'"


def test_the_options_page_shows_every_derived_variable(pages):
    derived = [k for k in CONTEXT if k.startswith("__") and k != "__prompts__"]
    rows = table_rows(pages["options.md"], "## Derived, not asked")
    assert [spans(r[0])[0] for r in rows] == derived
    defaults = sitegen.options.rendered(REPO_ROOT / "cookiecutter.json")
    assert [r[2] for r in rows] == [f"`{defaults[k]}`" for k in derived]


# --- troubleshooting: every message of the source -----------------------------------------------------

# An `error:` literal in Python or a Makefile recipe (a bare "error: " prefix, as one is stripped, is not one).
ERROR_LITERAL = re.compile(r"""(["'])(error: (?:(?!\1)[^\n\\]|\\.)+)""")
HOOK_REASON = re.compile(r"""(?:found\.append\(|return \[)\s*f?(["'])((?:(?!\1)[^\n\\]|\\.)+)""")


def grep_messages() -> dict[Path, list[str]]:
    """File -> the first line of each message it holds, found with a regex rather than ast."""
    files = sorted(PACKAGE_SOURCE.rglob("*.py")) + [REPO_ROOT / "Makefile", PROJECT_TEMPLATE / "Makefile"]
    found = {path: [m.group(2) for m in ERROR_LITERAL.finditer(path.read_text())] for path in files}
    found[HOOK] = [m.group(2) for m in HOOK_REASON.finditer(HOOK.read_text())]
    return {path: messages for path, messages in found.items() if messages}


def longest_literal(first_line: str) -> str:
    """The longest run of a message's text as a page shows it: no `{value}` or `$(VARIABLE)` in it,
    nor the dash the page splits a fix off at, nor a backtick (a code span's edge)."""
    text, depth = "", 0
    for char in first_line:  # `{values}` (nested ones too) out, a break in their place
        depth += char == "{"
        text += "\0" if depth else char
        depth -= char == "}" and depth > 0
    pieces = re.split(r"\0+|\$\(\w+\)|\$\$\{?\w+\}?|\\?`|\\n|%d| — ", text)
    return max(pieces, key=len).strip()


def test_the_source_holds_messages_to_document():
    found = grep_messages()
    assert len(found) > 20 and sum(map(len, found.values())) > 100, f"the grep found {found}: is it broken?"


def troubleshooting_rows(page: str) -> dict[tuple[bool, str], int]:
    """(in a section about the generated project, the file a row names) -> how many rows name it."""
    counts: dict[tuple[bool, str], int] = {}
    about_project = False
    for line in page.splitlines():
        if line.startswith("## "):
            about_project = "generated project" in line
        elif line.startswith("| ") and not line.startswith("| message"):
            source = spans(cells(line)[2])[0]
            counts[about_project, source] = counts.get((about_project, source), 0) + 1
    return counts


def troubleshooting_source(path: Path) -> tuple[bool, str]:
    """How the page names a file: (about the generated project, its path there or in the repo)."""
    if path.is_relative_to(PACKAGE_SOURCE):
        return True, f"src/<package>/{path.relative_to(PACKAGE_SOURCE).as_posix()}"
    if path.is_relative_to(PROJECT_TEMPLATE):
        return True, path.relative_to(PROJECT_TEMPLATE).as_posix()
    return False, path.relative_to(REPO_ROOT).as_posix()


def test_troubleshooting_lists_every_message_of_every_file(pages):
    """As many rows per file as the file has messages: a new message without its row fails here."""
    rows = troubleshooting_rows(pages["troubleshooting.md"])
    expected = {troubleshooting_source(path): len(messages) for path, messages in grep_messages().items()}
    wrong = [
        f"{src}: {n} messages in the source, {rows.get(src, 0)} rows"
        for src, n in expected.items()
        if rows.get(src) != n
    ]
    wrong += [f"{src}: {n} rows, but no message in the source" for src, n in rows.items() if src not in expected]
    assert wrong == [], "\n".join(wrong)


def test_troubleshooting_shows_each_message_as_printed(built):
    text = built.text("troubleshooting")
    missing = [
        f"{troubleshooting_source(path)}: {first!r}"
        for path, messages in grep_messages().items()
        for first in messages
        if longest_literal(first.replace("\\`", "`")) not in text
    ]
    assert missing == [], "the troubleshooting page does not show:\n" + "\n".join(missing)


def test_troubleshooting_gives_each_fix_its_own_column():
    messages = troubleshooting.messages(REPO_ROOT)
    with_fix = [m for m in messages if troubleshooting.DASH in m.text]
    assert with_fix and all(m.fix and m.fix in m.text and m.problem not in m.fix for m in with_fix)
    page = troubleshooting.page(REPO_ROOT)
    assert all(troubleshooting.markdown(m.fix) in page for m in with_fix)


def test_troubleshooting_names_the_command_that_runs_each_stage_module():
    runs = {m.source: m.commands for m in troubleshooting.messages(REPO_ROOT)}
    assert runs["src/<package>/monitoring/monitor.py"] == ("make monitor",)
    assert "make pipeline" in runs["src/<package>/pipeline/ingest.py"]
    assert runs["hooks/pre_gen_project.py"] == ("cookiecutter",)


# --- the walkthrough ------------------------------------------------------------------------------------


def test_the_walkthrough_shows_every_command_with_its_time(built):
    text = built.text("lifecycle")
    missing = [
        f"{command} ({float(s):.1f} s)" for s, command in DEMO_TIMES if f"{command} ({float(s):.1f} s)" not in text
    ]
    assert missing == [], f"lifecycle.md lacks {missing}"
    assert f"in all {float(DEMO_TOTAL):.1f} s" in text


def test_the_walkthrough_keeps_each_step_what_it_proves_its_output_and_notes(built):
    text, markup = built.text("lifecycle"), built.html("lifecycle")
    for step, proves, items in DEMO_RUN:
        section = markup.split(f'id="{step}"', 1)[-1].split("<h2", 1)[0]
        assert section != markup, f"no section for the step {step}"
        assert f"What it proves: {proves}" in " ".join(TextOf.of(section).split()), f"{step}: {section[:500]}"
        bullets = [" ".join(TextOf.of(li).split()) for li in re.findall(r"<li>(.*?)</li>", section, re.S)]
        listed = [b if i.startswith("==> ") else b.split(" (")[0] for b, i in zip(bullets, items, strict=False)]
        assert listed == [item.removeprefix("==> ") for item in items], f"{step}: {bullets}"
        assert f"logs/{DEMO_RUN.index((step, proves, items)):02d}-{step}.log" in section, f"{step}: no log"
    assert "\x1b" not in built.html("lifecycle") and "100% done" in text and " 10%" not in text


def test_the_walkthrough_links_the_projects_reports_with_their_images(built):
    project = "demo/breast-cancer-classifier"
    assert project  # the site keeps the project's layout under demo/
    for rel in (f"reports/monitoring/{DAY}", f"reports/improvement/{DAY}", "docs/evaluation_report", "CHANGELOG"):
        assert (built.site / "demo" / rel / "index.html").is_file(), f"no page for {rel}"
    for rel in (
        f"reports/monitoring/{DAY}-drift.png",
        "reports/improvement/tuning.png",
        "reports/plots/confusion_matrix.png",
    ):
        assert (built.site / "demo" / rel).read_bytes() == PNG, f"{rel} is not on the site"
    monitoring = built.html(f"demo/reports/monitoring/{DAY}")
    assert "<code>reports/monitoring/summary.json</code>" in monitoring, "a link the site cannot follow is not a path"


def strict_failure(demo_dir: Path, tmp_path: Path) -> str:
    result = mkdocs_build(tmp_path / "site", demo_dir)
    assert result.returncode != 0, f"mkdocs build --strict passed with {demo_dir}:\n{result.output[-2000:]}"
    return result.output


def test_without_a_demo_the_strict_build_fails_saying_run_make_demo(tmp_path):
    output = strict_failure(tmp_path / "no-demo", tmp_path)
    assert "run `make demo` first" in output, output[-2000:]


@pytest.mark.parametrize("failed", ["monitoring", None])
def test_a_demo_that_did_not_finish_fails_the_strict_build(tmp_path, failed):
    """Stopped at a step, or cut off before its end (no `demo-finished` event): `make demo` again."""
    other = write_demo(tmp_path / "demo")
    write_run(other, "breast-cancer-classifier", failed=failed)
    if failed is None:
        lines = (other / events.FILE).read_text().splitlines()
        (other / events.FILE).write_text("\n".join(lines[:-1]) + "\n")
    output = strict_failure(other, tmp_path)
    reason = "stopped at step monitoring" if failed else "did not finish"
    assert reason in output and "run `make demo` again" in output, output[-2000:]


def test_a_demo_missing_a_steps_log_fails_the_strict_build_naming_it(demo_dir, tmp_path):
    other = tmp_path / "demo"
    shutil.copytree(demo_dir, other)
    (other / events.LOGS / "02-pipeline.log").unlink()
    output = strict_failure(other, tmp_path)
    assert "02-pipeline.log is missing" in output and "make demo" in output, output[-2000:]


# --- the demo's runner, on a tiny template of its own ----------------------------------------------------

TINY_MAKEFILE = """\
help: ## List the targets
\t@echo help
ok:
\t@echo fine
retrain:
\t@echo '{"decision": "retrain"}' > summary.json; exit 10
keep:
\t@echo '{"decision": "keep"}' > summary.json
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A cookiecutter template whose project is a Makefile: `ok`, and a monitor's `retrain` (exit 10) and `keep`."""
    template = tmp_path / "tiny template"
    (template / "{{cookiecutter.project}}").mkdir(parents=True)
    (template / "cookiecutter.json").write_text('{"project": "tiny"}\n')
    (template / "{{cookiecutter.project}}" / "Makefile").write_text(TINY_MAKEFILE)
    return template


def run_demo(tiny: Path, folder: Path, *steps: Step) -> bool:
    demo = demo_run.Demo(folder, dict(os.environ), events.Events(folder / events.FILE))
    return demo.run(steps, tiny, load_seconds=1, tune_trials=1)


RETRAIN = Make("retrain", exit_code=10, expect=Field("summary.json", "decision", "retrain"), note="monitor: retrain")


def test_the_demo_prints_one_line_per_step_and_records_its_events(tiny, tmp_path, capsys):
    folder = tmp_path / "demo"
    assert run_demo(tiny, folder, Step("first", "it works", (Make("ok"),)), Step("verdict", "it asks", (RETRAIN,)))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["generate", "first", "verdict"], lines
    assert all(re.search(r" \([0-9.]+ s\)$", line) for line in lines) and "it asks" in lines[2], lines
    run = events.read(folder)
    assert run.finished and run.asked == ("first", "verdict") and run.project == folder / "tiny"
    verdict = run.steps[2]
    assert [(c.command, c.exit_code, c.expected) for c in verdict.commands] == [("make retrain", 10, 10)]
    assert verdict.items[-1] == "monitor: retrain" and verdict.log == folder / "logs" / "02-verdict.log"
    assert "fine" in run.steps[1].log.read_text() and events.stale(folder, ("first", "verdict")) is None


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (Make("keep", exit_code=10, why="drift asks"), "`make keep` exited with 0, not exit status 10 (drift asks)"),
        (
            Make("retrain", exit_code=10, expect=Field("summary.json", "decision", "keep")),
            "summary.json says decision 'retrain' after `make retrain`, not 'keep'",
        ),
        (Make("nothing"), "`make nothing` exited with 2, not success"),
    ],
    ids=["exit status", "record", "no such target"],
)
def test_the_demo_stops_at_the_first_failure_naming_the_step_and_its_log(tiny, tmp_path, capsys, make, error):
    folder = tmp_path / "demo"
    assert not run_demo(tiny, folder, Step("verdict", "it asks", (make,)), Step("later", "never runs", (Make("ok"),)))
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith("  verdict") and "FAILED" in out and "never runs" not in out, out
    assert f"error: step verdict failed: {error} — read {folder / 'logs' / '01-verdict.log'}" in err, err
    run = events.read(folder)
    assert run.failed == "verdict" and [s.name for s in run.steps] == ["generate", "verdict"]
    assert run.steps[1].error == error
    assert events.stale(folder) == f"the demo in {folder} stopped at step verdict"


def test_the_scenario_is_data_every_step_proving_something_with_project_targets():
    makefile = (PROJECT_TEMPLATE / "Makefile").read_text()
    names = [step.name for step in SCENARIO]
    assert len(set(names)) == len(names) and all(step.proves and step.actions for step in SCENARIO)
    missing = {m.target for step in SCENARIO for m in step.commands if not re.search(rf"^{m.target}:", makefile, re.M)}
    assert missing == set(), f"the scenario runs targets the project lacks: {missing}"
    assert demo_run.steps_argument(["install, pipeline", "lint"]) == ("install", "pipeline", "lint")


# --- every command and path the pages name -------------------------------------------------------------


@pytest.fixture(scope="module")
def baked(cookies_session, template) -> Path:
    return bake_ok(cookies_session, template, {})


def page_folders(markdown: str, project_headings: set[str]) -> dict[str, str]:
    """Heading -> PROJECT_FOLDER for the sections about the generated project."""
    headings = {line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("#")}
    return {h: PROJECT_FOLDER for h in headings if h in project_headings or "generated project" in h}


def project_headings(page: str) -> set[str]:
    """The walkthrough's sections run in the demo's project, except its introduction."""
    return {step for step, _, _ in DEMO_RUN} | {"Steps and times"} if page == "lifecycle.md" else set()


GENERATED = ["index.md", "options.md", "troubleshooting.md", "lifecycle.md"]
# Pages written by hand. Their targets are checked against both Makefiles (design.md speaks of the
# template's and the project's in one breath); their paths are not: "X, not Y" names files that are
# not there on purpose, and most of the rest are pipeline outputs named in passing.
WRITTEN = ["design.md", "benchmarks.md"]


@pytest.mark.parametrize("page", GENERATED + WRITTEN)
def test_every_make_target_a_page_names_exists(pages, page):
    root = makefile_targets((REPO_ROOT / "Makefile").read_text())
    project = makefile_targets((PROJECT_TEMPLATE / "Makefile").read_text())
    text = pages[page] if page in GENERATED else (REPO_ROOT / "docs" / page).read_text()
    calls = make_calls(text, page_folders(text, project_headings(page)))
    assert calls or page == "options.md", f"{page} names no `make` target: the parser is broken"
    if page in WRITTEN:
        wrong = [f"line {c.line}: `make {c.target}`" for c in calls if c.target not in root | project]
    else:
        wrong = [
            f"line {c.line}: `make {c.target}` ({'the project' if c.folder else 'the root'})"
            for c in calls
            if c.target not in (project if c.folder == PROJECT_FOLDER else root)
        ]
    assert wrong == [], f"{page} names make targets that do not exist:\n" + "\n".join(wrong)


def made_by_make_demo(path: str) -> bool:
    """A path in the root Makefile's DEMO_DIR: there after `make demo` / `make docs`, not in a clone."""
    demo_dir = re.search(r"^DEMO_DIR\s*[:?]?=\s*(\S+)", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert demo_dir, "the root Makefile sets no DEMO_DIR"
    return path.startswith(f"{demo_dir.group(1)}/")


@pytest.mark.parametrize("page", GENERATED)
def test_every_path_a_page_names_exists(pages, page, baked, demo_dir):
    """At the template's root or in a baked project (declared by its pipeline or made by a named
    command included); the walkthrough's paths in the demo it shows."""
    text = re.sub(r"\[([^\]]*)\]\([^)\s]+\)", r"\1", pages[page])  # links: the strict build checks them
    mentions = path_mentions(text, {h: "src/<package>/" for h in page_folders(text, set())})
    names = {"package": baked.name.replace("-", "_"), "project": baked.name}
    bases = [REPO_ROOT, baked, demo_dir.parent, demo_dir / baked.name]
    outputs = dvc_outputs(baked)
    unfound = set(unfound_paths(mentions, bases, names))
    missing = [
        f"line {m.line}: `{m.text}`"
        for m in mentions
        if f"line {m.line}: `{m.text}`" in unfound
        and m.text not in MADE_BY_COMMANDS
        and not any(c.rstrip("/") in outputs for c in m.candidates(names))
        and not made_by_make_demo(m.text)
    ]
    assert missing == [], f"{page} names paths that do not exist:\n" + "\n".join(missing)


# --- `make docs`, for real ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    path: Path
    env: dict

    def make(self, *args: str) -> str:
        return run(["make", *args], cwd=self.path, env=self.env).stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory, dvc_site_cache_dir) -> Copy:
    """The working tree in a dot-folder with a space, sharing the test run's tooling as its .venv.

    The copy's lock is dated just before the shared .venv/.installed, so make leaves that venv alone.
    """
    outer = outer_bin_dir()
    if outer is None or not (outer.parent / ".installed").is_file():
        pytest.skip("needs the tests to run from the template's .venv (make test)")
    path = copy_working_tree(REPO_ROOT, tmp_path_factory.mktemp("docs") / HIDDEN_SPACED_FOLDER / "template")
    (path / ".venv").symlink_to(outer.parent)
    installed = (outer.parent / ".installed").stat().st_mtime
    os.utime(path / "requirements.lock", (installed - 1, installed - 1))
    return Copy(path, project_env(dvc_site_cache_dir))


def ran_the_demo(output: str) -> bool:
    """Whether `make docs` said it runs the demo (`python -m demo --check` found no finished run)."""
    return re.search(r"^==> no finished demo to show", output, re.MULTILINE) is not None


@pytest.mark.slow  # it runs the demo (one step, but a real generation: ~6 s) twice
def test_make_docs_runs_the_demo_once_and_builds_the_site_from_it(copy):
    first = copy.make("docs", "DEMO_STEPS=help")  # `make help` in the project: a real step that needs no venv
    assert ran_the_demo(first), first[-2000:]
    assert re.search(r"^  help +the project's `make help` \([0-9.]+ s\)$", first, re.MULTILINE), first[-2000:]
    demo = events.read(copy.path / "build" / "demo")
    assert demo.finished and demo.asked == ("help",) and [s.name for s in demo.steps] == ["generate", "help"]
    (command,) = demo.steps[1].commands
    assert (command.command, command.exit_code) == ("make help", 0)
    assert "List the targets" in demo.steps[1].log.read_text(), "the step's log lacks the command's output"
    assert not (copy.path / "build" / "demo.log").exists(), "make docs captured the demo's output again"
    site = copy.path / "build" / "site"
    lifecycle = " ".join(TextOf.of((site / "lifecycle" / "index.html").read_text()).split())
    assert f"make help ({command.seconds:.1f} s)" in lifecycle, lifecycle[:2000]
    assert "List the targets" in lifecycle, "the step's help text from the project's Makefile is missing"
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}

    second = copy.make("docs", "DEMO_STEPS=help")
    assert not ran_the_demo(second), "make docs ran the demo again though its events are of a finished run"
    after = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before, "a second make docs from the same demo changed the site"

    recorded = demo.folder / events.FILE  # a run cut off before its end
    recorded.write_text("".join(recorded.read_text().splitlines(keepends=True)[:-1]))
    third = copy.make("docs", "DEMO_STEPS=help")
    assert ran_the_demo(third), "make docs kept the events of an unfinished demo"
    assert events.read(demo.folder).finished


def test_the_benchmarks_page_shows_the_measurement_files() -> None:
    """docs/benchmarks.md's measured sections are what benchmarks/render.py makes of the JSON files."""
    spec = importlib.util.spec_from_file_location("benchmarks_render", REPO_ROOT / "benchmarks" / "render.py")
    assert spec and spec.loader
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    page = (REPO_ROOT / "docs" / "benchmarks.md").read_text()
    assert render.with_measured(page) == page, "docs/benchmarks.md is stale — run `python benchmarks/render.py`"
