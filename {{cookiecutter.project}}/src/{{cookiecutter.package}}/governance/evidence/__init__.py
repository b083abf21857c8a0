"""Evidence (`make evidence`): where the proof of each duty lives, and whether it is present, current and filled.

`map` reads and validates docs/evidence.yaml; `facts` gathers what git, DVC and the deployments say;
`checks` judges each piece; `page` writes docs/evidence.md and the terminal table; `__main__` is the command.
"""
