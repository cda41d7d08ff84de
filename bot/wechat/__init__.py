"""The WeChat official account channel: protocol, API client, notifier."""
