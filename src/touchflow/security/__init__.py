"""Security primitives: sealing secrets at rest (AES-GCM)."""
