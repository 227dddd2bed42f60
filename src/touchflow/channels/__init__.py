"""Channel adapters: one module per provider behind the ``Channel`` protocol in ``base``."""
