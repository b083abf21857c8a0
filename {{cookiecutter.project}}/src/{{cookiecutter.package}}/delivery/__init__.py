"""Delivery tools: build the bento, check its container, run it locally, load-test it, move artifacts."""
