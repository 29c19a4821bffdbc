"""Small records that carry one model plus a few computed values, read by the schemas as if they were the model."""
from __future__ import annotations


class ReadsThrough:
    """Mixin: an attribute the record lacks is read from its model, the field named by `_through`.

    Dunder probes (copy, pickle) and the model field itself are never forwarded, so a half-built instance
    raises AttributeError instead of recursing.
    """

    _through: str = ""

    def __getattr__(self, name):
        if name.startswith("__") or name == self._through:
            raise AttributeError(name)
        return getattr(getattr(self, self._through), name)
