"""The demo: deterministic sample data for a fictional company, imported and summarised.

``sample_data`` writes the files a real customer would hand over (messy on purpose);
``summary`` runs the imports and gathers the data-quality picture the CLI renders.
"""
