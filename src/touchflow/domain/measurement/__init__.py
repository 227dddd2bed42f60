"""Measurement: metric definitions, attribution, statistics for alerts and experiments, goals — pure rules over
plain data. Rollups live in ``store``; use cases in ``services``; nothing here reads the database or the clock."""
