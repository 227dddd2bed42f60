"""Console pages, one module per page area; each view parses, calls services and renders (no logic here)."""
