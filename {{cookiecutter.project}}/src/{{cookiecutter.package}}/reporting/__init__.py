"""Reporting: the Markdown documents (cards, evaluation report, manual), rendered from Jinja templates."""
