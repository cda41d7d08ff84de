"""Client of the centre's case system (see docs/backend-api.md)."""
