"""How an SQS handler says "this message must come back later" to Powertools' batch processor."""


class RedeliverLater(Exception):
    """Not an error: the message must come back after the visibility the handler just set, so it
    is reported as a batch item failure (SQS redelivers it then)."""
