"""Monitoring: the live model judged against its targets — prediction log read back, drift, decision, simulation."""
