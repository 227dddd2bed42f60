"""Use cases: one verb-named function, one transaction, one audit row where a person acted."""
