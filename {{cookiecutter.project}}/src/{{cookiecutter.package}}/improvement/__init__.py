"""Improvement: the retraining the monitor asks for — plan, refreshed data, tuning, champion against challenger, proposal."""
