"""Improvement: the retraining the monitor asks for — plan, data, tuning, champion vs challenger, proposal."""
