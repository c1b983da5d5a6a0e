"""Pure domain rules of certflow: models, dates, identity documents, scores.

Nothing in this package performs I/O, so both workflows (which must stay
deterministic) and activities can import it.
"""
