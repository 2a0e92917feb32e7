"""Keep the server's shared secret out of every log line, uvicorn's access log included.

A ``?token=...`` query value, an ``Authorization: Bearer ...`` value and the literal
configured token are replaced by ``***`` in the message and in every string argument
(uvicorn's access formatter unpacks its arguments, so they are rewritten in place,
never merged into the message).
"""

from __future__ import annotations

import logging
import re

REDACTED = "***"
_QUERY = re.compile(r"(?i)(token=)[^&\s\"']*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "marketphys.serving", "websockets",
           "websockets.server")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    text = _QUERY.sub(r"\1" + REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    for s in secrets:
        if s:
            text = text.replace(s, REDACTED)
    return text


class RedactToken(logging.Filter):
    """A logging filter that rewrites records, never drops them."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def _clean(self, v):
        return redact(v, self.secrets) if isinstance(v, str) else v

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True


_FILTER = RedactToken()


def install(token: str | None) -> RedactToken:
    """Put the redacting filter on the serving loggers and on every handler they and the root logger have now.

    Secrets accumulate (several servers in one process each keep theirs out of the logs).
    """
    if token and token not in _FILTER.secrets:
        _FILTER.secrets = (*_FILTER.secrets, token)
    for name in (*LOGGERS, None):
        logger = logging.getLogger(name)
        if name is not None and _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for h in logger.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)
    return _FILTER
