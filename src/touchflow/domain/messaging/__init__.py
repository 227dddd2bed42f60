"""Messaging: what the outbox delivers (fallbacks, retries), follow-up tasks, message counts, and the message
and task ports."""
