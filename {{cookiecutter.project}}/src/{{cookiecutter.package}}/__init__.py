"""{{ cookiecutter.project_name }}: the pipeline, service and delivery of one model.

The version has one source, `pyproject.toml`; it is read here from the installed distribution.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("{{ cookiecutter.project }}")
except PackageNotFoundError:  # not installed (`make install` installs it)
    __version__ = "0.0.0"
