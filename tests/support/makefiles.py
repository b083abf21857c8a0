"""What a Makefile defines: its rules' targets and their `## ` help texts, read with one pattern."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A rule line: `a b: prerequisites ## help`. Not a variable (`a := b`, `a ?= b`), a recipe (tab) or a comment;
# `$(VENV)/.installed:` (a file rule) is a rule whose target is not a name.
RULE = re.compile(r"^(?P<targets>[^\s:=#.\t$][^:=#]*?|\$\([^)]*\)[^:=#]*?)[ \t]*:(?![=:])(?P<rest>.*)$")
NAME = re.compile(r"[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class Rule:
    """One rule line of a Makefile."""

    line: int
    targets: tuple[str, ...]
    prerequisites: tuple[str, ...]
    help: str  # the text after `## `, "" when the rule has none


def rules(text: str) -> list[Rule]:
    """Every rule line of a Makefile, in order."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = RULE.match(line)
        if match:
            needs, _, help_text = match.group("rest").partition("##")
            found.append(Rule(number, tuple(match.group("targets").split()), tuple(needs.split()), help_text.strip()))
    return found


def makefile_targets(text: str) -> set[str]:
    """The named targets a Makefile defines (`a b: deps`); file rules (`$(VENV)/.installed`) left out."""
    return {target for rule in rules(text) for target in rule.targets if NAME.fullmatch(target)}


def help_texts(text: str) -> dict[str, str]:
    """Target -> its `## ` help text, for the targets `make help` lists."""
    return {target: rule.help for rule in rules(text) if rule.help for target in rule.targets}


def variable(text: str, name: str) -> str | None:
    """The value a Makefile assigns to `name` (`=`, `:=`, `?=`), as written; None when it sets none."""
    match = re.search(rf"^{re.escape(name)}[ \t]*[:?]?=[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return match.group(1) if match else None
