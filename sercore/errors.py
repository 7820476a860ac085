"""The exception tree. CLIs catch `SertackError` only and print its message as one line.

    SertackError                 anything the user can fix; message is one line naming file/key/value
    ├── ConfigError              a bad setting, grid key or parameter value
    │   └── GridError            (runner.grid) every problem of a grid file, one `FILE: key: message` a line
    ├── DataError                a corpus root, file or feature store that is missing or unusable
    └── JobError                 a job that cannot run with what it was given (missing upstream, empty split)
        ├── JobBusy              (runner.locks) another process holds the job's or the run's lock right now
        │   └── ReduceBusy       (runner.reduce.publish) another reduce is writing the same report
        └── LockError            (runner.locks) the lock file cannot be opened, so the job must not run

The runner's subclasses live beside the code that raises them (sercore never imports runner); a CLI catching
`SertackError` catches them all. Third-party exceptions are wrapped once at the boundary:
`raise DataError(...) from exc`.
"""


class SertackError(Exception):
    """Base of every error a user can act on."""


class ConfigError(SertackError):
    """A setting, grid key or attack parameter is invalid."""


class DataError(SertackError):
    """A corpus, audio file or feature store is missing or unusable."""


class JobError(SertackError):
    """A job cannot run with the inputs it was given."""
