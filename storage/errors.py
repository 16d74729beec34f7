"""Errors raised by the storage layer. Each carries a message meant for a person."""


class StorageError(Exception):
    """Base class: the CLI prints the message and exits with status 2."""


class DatabaseUnavailableError(StorageError):
    """The database URL cannot be opened, reached or migrated."""


class CatalogImportError(StorageError):
    """A catalog source cannot be imported as a whole (missing, corrupt, unknown format)."""


class MigrationError(StorageError):
    """A migration command cannot run (an unknown revision, say)."""
