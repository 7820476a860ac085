"""sercore: the science of sertack (data, features, models, training, attacks, metrics).

Pure functions with I/O at the edges; job entry points live in `sercore.jobs`.
Nothing here prints or exits: it logs and raises `sercore.errors.SertackError` subclasses.
"""

__version__ = "0.1.0"
