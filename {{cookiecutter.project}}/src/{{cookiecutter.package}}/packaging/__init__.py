"""Packaging: the model as a shippable service — bento, container check, image, local server, smoke and load tests."""
