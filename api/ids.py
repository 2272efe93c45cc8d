"""The ``{name:id}`` path convertor for user ids in URL paths.

Ids are any text (see :mod:`graph.readers`), so a path segment holding one must match "/"
(sent as ``%2F``, decoded before routing) and line breaks too, which neither Starlette's
``str`` (no "/") nor ``path`` (no line feed) convertor does. Importing this module registers
the convertor; route modules import it before declaring ``{user_id:id}`` paths.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class IdConvertor(Convertor[str]):
    """Any non-empty text, "/" and line breaks included."""

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())
