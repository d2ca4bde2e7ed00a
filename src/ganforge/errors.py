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


class RunBusy(GanforgeError):
    """Another process is writing this run folder (it holds the folder's lock)."""


class Stopped(GanforgeError):
    """Training stopped by a signal (Ctrl-C or SIGTERM) after writing a checkpoint at the current step.

    ``code`` is the exit status a shell expects for that signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
