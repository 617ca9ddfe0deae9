"""No log record shows a secret (a PAT, an access token) once it is known."""

from __future__ import annotations

import logging

REDACTED = "********"

_secrets: set[str] = set()


class RedactingLogRecord(logging.LogRecord):
    """A record whose message is scrubbed when it is formatted: only records a handler emits
    pay for it, not the DEBUG ones (an item's repr) that no handler takes."""

    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        message = super().getMessage()
        for secret in _secrets:
            if secret in message:
                message = message.replace(secret, REDACTED)
        return message


def redact_in_logs(secret: str) -> None:
    """From now on, no log record of this process shows `secret`."""
    if len(secret) >= 8:
        _secrets.add(secret)
    if logging.getLogRecordFactory() is not RedactingLogRecord:
        logging.setLogRecordFactory(RedactingLogRecord)
