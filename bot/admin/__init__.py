"""The volunteers' FAQ console at ``/admin``: accounts, signed-cookie sessions, CSRF, pages."""
