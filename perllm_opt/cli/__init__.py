"""Command-line entry points (the only code that writes files)."""
