"""Governance: who may do what (roles and permissions), and who did it (principals).

Pure rules only; passwords, TOTP, sessions, approvals and the audit chain live in ``security`` and ``services``.
"""
