"""Content: marketer templates (Liquid), email composition (MJML, inlined CSS, text part), links and tokens.

Pure-ish: imports only ``touchflow.domain`` and libraries; the asset library's storage lives in ``store``
and its use cases in ``services/content.py``. See docs/subsystems/content.md.
"""
