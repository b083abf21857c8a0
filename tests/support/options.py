"""What cookiecutter.json asks: its prompts in order, the choices of each choice option, defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

REPO_ROOT = Path(__file__).resolve().parents[2]
COOKIECUTTER_JSON = REPO_ROOT / "cookiecutter.json"
# Prompt -> its JSON value (text, list of choices, boolean, or a dict for private keys): Any, as JSON gives it.
CONTEXT: dict[str, Any] = json.loads(COOKIECUTTER_JSON.read_text())

# Every key cookiecutter prompts for (private `_`/`__` keys are not asked), in the file's order.
PROMPTS: list[str] = [k for k in CONTEXT if not k.startswith("_")]
# Option -> its choices, default first: lists, and booleans (cookiecutter asks yes/no).
CHOICES: dict[str, list[object]] = {
    k: (list(v) if isinstance(v, list) else [v, not v])
    for k, v in CONTEXT.items()
    if k in PROMPTS and isinstance(v, list | bool)
}
# The unrendered default of each prompt: a choice list defaults to its first entry.
DEFAULTS: dict[str, object] = {k: CONTEXT[k][0] if isinstance(CONTEXT[k], list) else CONTEXT[k] for k in PROMPTS}


def rendered_defaults() -> dict[str, object]:
    """Every prompt's default as cookiecutter renders it with no input (derived names included)."""
    context = generate_context(context_file=str(COOKIECUTTER_JSON))
    answers = prompt_for_config(context, no_input=True)
    return {k: answers[k] for k in PROMPTS}
