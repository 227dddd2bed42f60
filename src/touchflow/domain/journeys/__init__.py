"""Journeys: the journey model, its YAML document (parse, schema, lint, edits, diff, maps), the run state
machine (transitions), the sandbox (scenarios), and the journey port."""
