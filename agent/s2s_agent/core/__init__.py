"""Shared infrastructure every stage may use: errors, data model, OS calls, files, time."""
