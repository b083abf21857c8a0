"""{{ cookiecutter.project_name }}: the pipeline, service and delivery of one model.

`__version__` is the installed distribution's: in a built image the build's version (the release
tags decide it, core/buildinfo.py); in the work tree pyproject.toml's, the fallback before a first release.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("{{ cookiecutter.project }}")
except PackageNotFoundError:  # not installed (`make install` installs it)
    __version__ = "0.0.0"
