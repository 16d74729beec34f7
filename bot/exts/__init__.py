"""Bot extensions, discovered at start-up: every module here not starting with `_`."""
