"""`make demo` as a program: the scenario as data, a runner, and the record of a run.

- `demo.scenario`: the steps (`SCENARIO`, `scenario()`, `step()`, `select()`) and their actions
  (`Make`, `Commit`, `Merge` of a branch `Printed` by a command or `Recorded` in a JSON file).
  Importing it runs nothing; the tests replay its steps on projects of their own.
- `demo.events`: the events of a run as JSON lines (`events.jsonl`), written as it goes and read
  back as a `Run` by the docs' walkthrough (docs/sitegen/walkthrough.py) and `make docs`.
- `demo.run`: generate the default project with cookiecutter, run the chosen steps, one progress
  line each; `python -m demo --help`.
"""
