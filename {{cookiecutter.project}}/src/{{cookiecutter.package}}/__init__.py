"""{{ cookiecutter.project_name }}: the pipeline and service of one model."""

__version__ = "0.1.0"
