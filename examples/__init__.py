"""Worked examples for users (docs/bring-your-own.md)."""
