"""The shared core: paths, artifacts and records, settings, the typed schema, the feature transform, estimators.

Every other subpackage imports from here; nothing here imports a stage, the service or a tool.
"""
