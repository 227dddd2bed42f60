"""Scoring: lead scores, tiers, lifecycle stages, personas and assignment, and their ports."""
