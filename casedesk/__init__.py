"""The reference case desk: a small, real implementation of the case-system API
(docs/backend-api.md) with staff pages, for a pilot centre without a platform of its own and as
the real backend of the tests.

``casedesk.app.create_app(settings)`` builds the web application; ``python -m casedesk`` runs it.
"""
