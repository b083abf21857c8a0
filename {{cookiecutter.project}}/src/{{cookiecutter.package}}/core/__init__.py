"""The shared core: paths, records, settings, the typed schema, the feature transform, estimators, and the
one place for each outside call (git, the forge, DVC storage) and for environments as code.

Every other subpackage imports from here; nothing here imports a stage, the service or a tool.
"""
