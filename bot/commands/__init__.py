"""CLI commands beyond the core ones, discovered at start-up.

Each public module here defines `command`, a click command or group that `earworm` adds.
"""
