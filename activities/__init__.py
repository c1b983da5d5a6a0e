"""Activities: every side effect of certflow (files, database, mail, certificates).

Each module holds one class whose instance carries the shared client it needs
(a connection pool, the document store, the mailer); the worker builds them once.
"""
