"""Helpers shared by tests and demos: servers and builders of test data."""
