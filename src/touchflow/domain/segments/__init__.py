"""Segments: dynamic and static contact groups over conditions, and the segment port."""
