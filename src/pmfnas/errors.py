"""Typed exceptions for bad input; the CLI turns each into one line on stderr and exit code 2."""


class PmfnasError(Exception):
    """Base class of every error caused by the user's input or data, not by a bug."""


class ArchitectureError(PmfnasError, ValueError):
    """A malformed architecture string, an index out of range or an unknown operation."""


class FidelityError(PmfnasError, ValueError):
    """A fidelity that cannot be parsed or that the evaluator cannot serve."""


class BudgetError(PmfnasError, ValueError):
    """A budget that is not a positive number of seconds."""


class ConfigError(PmfnasError, ValueError):
    """A setting (strategy parameter, command option) that is unknown or out of range."""


class ParameterError(ConfigError):
    """A strategy parameter that the strategy does not have, or a value not of its type."""


class DataError(PmfnasError):
    """A data file or folder that is missing, truncated, corrupt or of the wrong layout."""


class NotAvailableError(PmfnasError, LookupError):
    """A benchmark value that the data source does not record (never replaced by a guess)."""


class RegistryError(PmfnasError, KeyError):
    """An unknown name asked of a registry (strategy, dataset, benchmark ...)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want the plain sentence
        return str(self.args[0]) if self.args else ""


class StorageError(PmfnasError):
    """A storage file that cannot be used: wrong schema, or a study that does not match its history."""


class EvaluationError(PmfnasError):
    """Every evaluation of a search failed: the evaluator or its setting, not the search, is
    at fault (the stored trials keep each error)."""


class StrategyError(PmfnasError):
    """A search strategy broke its contract (it waits with nothing in flight)."""


class Interrupted(Exception):
    """A command stopped by Ctrl-C or SIGTERM; the message says what was kept and how to resume.

    Not a :class:`PmfnasError` (the input was fine) nor a ``KeyboardInterrupt`` (which the
    command line parser would swallow); the CLI prints it as one line and exits with 130.
    """
