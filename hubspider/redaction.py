"""No log record shows a secret (a PAT, an access token) once it is known."""

from __future__ import annotations

import logging
from typing import Any

REDACTED = "********"

_secrets: set[str] = set()
_record_factory = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _record_factory(*args, **kwargs)
    message = record.getMessage()
    if any(secret in message for secret in _secrets):
        for secret in _secrets:
            message = message.replace(secret, REDACTED)
        record.msg, record.args = message, ()
    return record


def redact_in_logs(secret: str) -> None:
    """From now on, no log record of this process shows `secret`."""
    if len(secret) >= 8:
        _secrets.add(secret)
    if logging.getLogRecordFactory() is not _redacting_record_factory:
        logging.setLogRecordFactory(_redacting_record_factory)
