"""Errors the emulator reports, each with the HTTP status a Weaviate server answers it with."""

from __future__ import annotations


class EmulatorError(Exception):
    """An error a request ends with; REST answers ``status`` with ``{"error": [{"message": ...}]}``."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnprocessableError(EmulatorError):
    """Invalid input (422), the status Weaviate uses for validation failures."""

    status = 422


class BadRequestError(EmulatorError):
    """Malformed request (400)."""

    status = 400


class NotFoundError(EmulatorError):
    """Unknown class or object (404)."""

    status = 404


def no_such_prop(name: str, class_name: str) -> UnprocessableError:
    """The server's ``ErrorNoSuchProperty``."""
    return UnprocessableError(
        f"no such prop with name '{name}' found in class '{class_name}' in the schema. "
        "Check your schema files for which properties in this class are available"
    )
