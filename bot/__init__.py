"""Chatbot front door for grassroots dispute-resolution centres."""
