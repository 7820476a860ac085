"""The exception tree. CLIs catch `SertackError` only and print its message as one line.

    SertackError                 anything the user can fix; message is one line naming file/key/value
    ├── ConfigError              a bad setting, grid key or parameter value
    ├── DataError                a corpus root, file or feature store that is missing or unusable
    └── JobError                 a job that cannot run with what it was given (missing upstream, empty split)

Third-party exceptions are wrapped once at the boundary: `raise DataError(...) from exc`.
"""


class SertackError(Exception):
    """Base of every error a user can act on."""


class ConfigError(SertackError):
    """A setting, grid key or attack parameter is invalid."""


class DataError(SertackError):
    """A corpus, audio file or feature store is missing or unusable."""


class JobError(SertackError):
    """A job cannot run with the inputs it was given."""
