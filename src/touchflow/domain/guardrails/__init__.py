"""Guardrails: frequency caps, quiet hours, freezes and suppressions, ad-law compliance, and the guard port."""
