"""Errors raised by the reasoner package.

    HearthError
    └── ReasonerError
        ├── EncoderUnavailableError (RuntimeError)   a sentence encoder cannot be loaded or built
        ├── UnknownEncoderError (KeyError)            no encoder has this name
        ├── NotFittedError (RuntimeError)             a classifier was used before fit/load
        ├── IntentDataError (ValueError)              training examples or labels are unusable
        └── ModelFileError (OSError)                  a saved classifier cannot be read or written
"""

from __future__ import annotations

from kg.errors import HearthError


class ReasonerError(HearthError):
    """Base class of the reasoner's errors."""


class EncoderUnavailableError(ReasonerError, RuntimeError):
    """A sentence encoder cannot be loaded or built (missing package, model folder or cache)."""


class UnknownEncoderError(ReasonerError, KeyError):
    """No encoder is registered under this name."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the sentence
        return str(self.args[0]) if self.args else ""


class NotFittedError(ReasonerError, RuntimeError):
    """A classifier was asked to predict before it was fitted or loaded."""


class IntentDataError(ReasonerError, ValueError):
    """Training examples, labels or an intent name cannot be used."""


class ModelFileError(ReasonerError, OSError):
    """A saved model cannot be read or written."""
