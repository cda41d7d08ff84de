"""The dialog engine and the resident flows. No platform SDK, web framework or ORM here."""
