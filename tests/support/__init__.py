"""Plain helpers for the template's tests, one module per purpose; fixtures live in conftest.py.

- options: what cookiecutter.json asks (prompts, choices, defaults)
- matrix: the configurations the suite generates, the answers it must reject, and one test class
  per configuration
- tables: the bring-your-own CSVs written at test time
- processes: running commands, interpreters, the environment of a generated project's commands
- repos: facts read from a generated repo (git, DVC) and copies of a working tree
- markdown: the commands, paths and tables a README names
"""
