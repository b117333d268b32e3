"""Enrolment use cases: capture quality sessions, duplicate search and identity records."""
