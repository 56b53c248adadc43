"""Generation: embed, mix same-class neighbours, decode with the bridge, filter (``SMOTExT``)."""

from __future__ import annotations

__all__ = ["SMOTExT"]


def __getattr__(name: str):
    # Lazy, so that importing a torch-free module of this package does not load torch.
    if name == "SMOTExT":
        from smotext.synth.smotext import SMOTExT

        return SMOTExT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
