"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class VlmpruneError(Exception):
    """An error caused by the user's input or environment, with a one-line message."""


class UnknownNameError(VlmpruneError, KeyError):
    """A name that is not in a registry (dataset, metric, adapter, objective...)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidBlocksError(VlmpruneError, ValueError):
    """A removal request that does not fit the model (out of range, duplicate, all blocks)."""


class ModelLoadError(VlmpruneError):
    """A model path that is missing or is not a supported VLM."""
