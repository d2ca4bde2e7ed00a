"""Errors a user can fix. The CLI prints them as one line and exits non-zero, without a traceback."""


class GanforgeError(Exception):
    """Base class: a problem with the user's input, files or settings."""


class ConfigError(GanforgeError, ValueError):
    """An unknown config key, a bad value or a combination that cannot work."""


class DataError(GanforgeError, ValueError):
    """Training data that cannot be read or used."""


class CheckpointError(GanforgeError):
    """A checkpoint or run folder that is missing, truncated or of the wrong kind."""


class TrainingDiverged(GanforgeError):
    """Training diverged (a NaN/inf loss or parameter, or D winning completely) and could not recover."""
