"""The troubleshooting page: every `error:` message the template and a generated project print, read from their source.

Python messages are read with `ast` (so a message split over lines is one message, and a constant it
names, such as a fix shared by several messages, is spelled out); Makefile messages are the
`"error: …"` strings of their recipes. A message reads "problem — fix": the page puts the fix, the
text after the first " — ", in a column of its own.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PROJECT = "{{cookiecutter.project}}"
PACKAGE = "{{cookiecutter.package}}"
PREFIX = "error: "
DASH = " — "
MAX_COMMANDS = 4  # more callers than this: the module is shared, and the page says so
HOOK = "hooks/pre_gen_project.py"
MAKE_MESSAGE = re.compile(r'"(error: [^"]+)"')
MAKE_TARGET = re.compile(r"^([a-z][\w-]*)\s*:(?!=)")
MAKE_RULE = re.compile(r"^([^\s:=#][^:=]*?)\s*:(?![=:])(.*)$")
MAKE_VARIABLE = re.compile(r"\$\$\{?(\w+)\}?|\$\((\w+)\)")
MODULE_RUN = re.compile(r"\$\(PACKAGE\)\.([\w.]+)")
WALKER = Path("tests/code/layout.py")  # the project's import-graph walker
STAGE_RUN = re.compile(r"python -m \{\{ cookiecutter\.package \}\}\.([\w.]+)")


@dataclass(frozen=True)
class Message:
    """One message as a user sees it (`‹name›` where a value is filled in), and where it is raised."""

    text: str
    source: str  # its file, relative to the repo (template files) or to the project (`src/<package>/…`)
    where: str  # the function (or Makefile target) that prints it
    section: str
    commands: tuple[str, ...] = ()  # what runs that code: `make <target>`, `cookiecutter`

    @property
    def problem(self) -> str:
        return self.text.partition(DASH)[0]

    @property
    def fix(self) -> str:
        return self.text.partition(DASH)[2]


# --- Python sources -------------------------------------------------------------------------


def module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` (or an f-string of such names): what a message may spell out."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            text = literal(node.value, found)
            if text is not None:
                found[node.targets[0].id] = text
    return found


def placeholder(node: ast.expr) -> str:
    """`‹path›` for a value filled in at run time: its name, or `…` for an expression."""
    if isinstance(node, ast.Name | ast.Attribute):
        return f"‹{ast.unparse(node)}›"
    return "‹…›"


def literal(node: ast.expr, constants: dict[str, str], *, fill: bool = False) -> str | None:
    """The text of a string or f-string; with `fill`, unknown values become placeholders."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue):
            inner = value.value
            if isinstance(inner, ast.Name) and inner.id in constants and value.conversion == -1:
                parts.append(constants[inner.id])
            elif fill:
                parts.append(placeholder(inner))
            else:
                return None
    return "".join(parts)


def scoped_strings(tree: ast.Module) -> list[tuple[str, ast.expr]]:
    """Every string expression with the function (`Class.method`, `<module>`) it sits in."""
    found: list[tuple[str, ast.expr]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = child.name if scope == "<module>" else f"{scope}.{child.name}"
                visit(child, inner)
            elif isinstance(child, ast.JoinedStr) or (isinstance(child, ast.Constant) and isinstance(child.value, str)):
                found.append((scope, child))
            else:
                visit(child, scope)

    visit(tree, "<module>")
    return found


def python_messages(path: Path, source: str, section: str, commands: tuple[str, ...]) -> list[Message]:
    """The `error: …` strings of one module (a bare "error: " prefix, as stripped elsewhere, is not one)."""
    tree = ast.parse(path.read_text())
    constants = module_constants(tree)
    found = []
    for scope, node in scoped_strings(tree):
        text = literal(node, constants, fill=True)
        if text and text.startswith(PREFIX) and text.strip() != PREFIX.strip():
            found.append(Message(text, source, scope, section, commands))
    return found


def hook_messages(root: Path) -> list[Message]:
    """The pre-generation hook's rejections: the strings `problems` collects, printed as `error: <reason>`."""
    path = root / HOOK
    text = path.read_text()
    if 'print(f"error: {reason}"' not in text:
        raise ValueError(f"{HOOK} no longer prints `error: <reason>`: update docs/sitegen/troubleshooting.py")
    tree = ast.parse(text)
    reasons = collected(tree)
    found = []
    for scope, node in scoped_strings(tree):
        reason = literal(node, {}, fill=True)
        if reason is None or node not in reasons:
            continue
        found.append(Message(PREFIX + reason, HOOK, scope, "Generating a project", ("cookiecutter",)))
    return found


def collected(tree: ast.Module) -> set[ast.expr]:
    """The strings a hook appends to `found` or returns in a list: the reasons it prints."""
    reasons: set[ast.expr] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "found"
        ):
            reasons.update(node.args)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.List):
            reasons.update(node.value.elts)
    return reasons


# --- who runs which module ---------------------------------------------------------------------


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_walker(project: Path) -> ModuleType:
    """The generated project's own import-graph walker (`tests/code/layout.py`): one walker for both."""
    spec = importlib.util.spec_from_file_location("project_layout", project / WALKER)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no import walker at {project / WALKER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while it is defined
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the template a bake copies
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
    return module


def entry_points(project: Path) -> dict[str, set[str]]:
    """Module -> the commands that run it: the project Makefile's `-m $(PACKAGE).…` recipes, DVC stages."""
    runs: dict[str, set[str]] = defaultdict(set)
    target = None
    for line in (project / "Makefile").read_text().splitlines():
        match = MAKE_TARGET.match(line)
        if match:
            target = match.group(1)
        for module in MODULE_RUN.findall(line):
            if target:
                runs[module.split(":")[0]].add(f"make {target}")
    for module in STAGE_RUN.findall((project / "dvc.yaml").read_text()):
        runs[module].add("make pipeline")
    return runs


def callers(project: Path) -> dict[str, tuple[str, ...]]:
    """Module -> every command whose code reaches it through the package's imports, sorted.

    The walker takes dotted names, and the template's package folder is `{{cookiecutter.package}}`
    (dots in it): it walks a link to that folder under a plain name instead.
    """
    walker = import_walker(project)
    reached: dict[str, set[str]] = defaultdict(set)
    with tempfile.TemporaryDirectory() as tmp:
        src, name = Path(tmp), "package"
        (src / name).symlink_to((project / "src" / PACKAGE).resolve(), target_is_directory=True)
        for entry, commands in entry_points(project).items():
            files: set[Path] = walker.runs(f"{name}.{entry}", src, name)
            for file in files:
                reached[module_name(src / name, file)] |= commands
    return {module: tuple(sorted(commands)) for module, commands in reached.items()}


def package_messages(root: Path) -> list[Message]:
    project = root / PROJECT
    package_dir = project / "src" / PACKAGE
    who = callers(project)
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = module_name(package_dir, path)
        role = module.split(".")[0] if "." in module else ""
        section = f"The generated project: `{role}/`" if role else "The generated project: the package"
        source = f"src/<package>/{path.relative_to(package_dir).as_posix()}"
        found += python_messages(path, source, section, who.get(module, ()))
    return found


# --- Makefiles ------------------------------------------------------------------------------


def make_text(message: str) -> str:
    """A recipe's message as the shell prints it: `$(VAR)`/`$$var` shown as ‹VAR›, `\\`` unescaped."""
    message = message.replace("\\`", "`")
    message = MAKE_VARIABLE.sub(lambda m: f"‹{m.group(1) or m.group(2)}›", message)
    return message.replace("%d.%d", "‹x.y›")


def rules(text: str) -> list[tuple[int, str, list[str]]]:
    """(line number, target, prerequisites) of each rule line of a Makefile."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = MAKE_RULE.match(line)
        if match and not line.startswith((".", "#")):
            found.append((number, match.group(1).strip(), match.group(2).split("##")[0].split()))
    return found


def makefile_messages(path: Path, source: str, section: str) -> list[Message]:
    """The `"error: …"` strings of a Makefile's recipes, with the target each sits in."""
    text = path.read_text()
    table = rules(text)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for message in MAKE_MESSAGE.findall(line):
            target = next((t for n, t, _ in reversed(table) if n <= number), "")
            if target.startswith("$("):  # a file rule: every target that needs it
                commands = tuple(sorted(f"make {t}" for _, t, needs in table if target in needs))
            else:
                commands = (f"make {target}",)
            found.append(Message(make_text(message), source, target, section, commands))
    return found


# --- the page -------------------------------------------------------------------------------


def messages(root: Path) -> list[Message]:
    """Every message, grouped as the page shows them: generation, the template's commands, the project."""
    found = hook_messages(root)
    found += makefile_messages(root / "Makefile", "Makefile", "The template's commands")
    found += makefile_messages(root / PROJECT / "Makefile", "Makefile", "The generated project: its `Makefile`")
    found += package_messages(root)
    return found


ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]"}
)


def markdown(text: str) -> str:
    """A message as Markdown: its `quoted` commands as code, everything else literal (one table cell)."""
    text = text.replace("\n", " ")
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an odd number of backticks: no code spans, all literal
        return text.translate(ESCAPES).replace("`", "\\`")
    out = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            out.append(piece.translate(ESCAPES))
        else:
            fence = "``" if piece.startswith("`") or piece.endswith("`") else "`"
            out.append(f"{fence}{piece}{fence}")
    return "".join(out)


def commands_cell(commands: tuple[str, ...]) -> str:
    if not commands:
        return "–"
    if len(commands) > MAX_COMMANDS:
        return f"{len(commands)} commands (shared code)"
    return ", ".join(f"`{c}`" for c in commands)


def page(root: Path) -> str:
    """The troubleshooting page's Markdown."""
    found = messages(root)
    sections: dict[str, list[Message]] = defaultdict(list)
    for message in found:
        sections[message.section].append(message)
    lines = [
        "# Troubleshooting",
        "",
        "Every `error:` line the template and a generated project print, read from their source by",
        "`docs/sitegen/troubleshooting.py` when the site is built. ‹name› stands for a value filled in",
        "when the message is printed. A message names its own fix after the dash; *run by* lists the",
        "commands whose code holds it (generated-project commands run in the project's folder).",
        "",
        f"{len(found)} messages.",
    ]
    for section, items in sections.items():
        lines += ["", f"## {section}", "", "| message | fix | from | run by |", "|---|---|---|---|"]
        for m in items:
            source = f"`{m.source}`" + (f" `{m.where}`" if m.where != "<module>" else "")
            lines.append(
                f"| {markdown(m.problem)} | {markdown(m.fix) or '–'} | {source} | {commands_cell(m.commands)} |"
            )
    return "\n".join(lines) + "\n"
