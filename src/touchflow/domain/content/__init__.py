"""Content: the asset library's records (templates, versions, reviews) and its port."""
