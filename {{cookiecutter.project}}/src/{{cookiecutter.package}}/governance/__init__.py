"""Governance: the evidence map checked per duty, the pull-request report, template updates by pull request."""
