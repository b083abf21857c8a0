"""The serving runtime: predictor, HTTP API, guard and the BentoML service. It imports only the core."""
