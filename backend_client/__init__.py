"""Client of the centre's case system (see docs/backend-api.md)."""

from backend_client.client import BackendError, BackendRejected, BackendUnavailable, CaseSystemClient

__all__ = ["BackendError", "BackendRejected", "BackendUnavailable", "CaseSystemClient"]
