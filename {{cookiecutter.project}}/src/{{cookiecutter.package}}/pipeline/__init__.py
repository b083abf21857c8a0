"""The DVC pipeline: one module per stage of `dvc.yaml`, each a command (`python -m <package>.pipeline.<stage>`)."""
