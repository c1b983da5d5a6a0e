"""The public certificate web service (procedure 4.3).

Candidates look up and download their e-certificates; anyone holding one checks
that it is genuine and not revoked. ``web.app.create_app`` builds the ASGI app and
``web.app.main`` serves it (``certflow web``).
"""
