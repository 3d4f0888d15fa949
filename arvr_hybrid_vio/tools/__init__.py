"""Command-line programs (console scripts registered in setup.py)."""
