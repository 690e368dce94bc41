"""Adapters: the only code that talks to AWS (or stands in for it in tests)."""
