"""Taskhook's domain: task model and lifecycle, validation, dispatch, adapters.

Shipped as a Lambda layer (SAM) and vendored by `chalice package`; nothing here
talks to AWS at import time.
"""
