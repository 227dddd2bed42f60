"""Conditions: the predicate language segments, journeys, scoring and measurement share (parse, evaluate,
explain), and its durations. Pure; depends only on the core modules at the top of ``domain``."""
