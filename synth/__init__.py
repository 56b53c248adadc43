"""Generation: embed, mix same-class neighbours, decode with the bridge, filter."""

from synth.errors import SmotextError
from synth.smotext import SMOTExT

__all__ = ["SMOTExT", "SmotextError"]
