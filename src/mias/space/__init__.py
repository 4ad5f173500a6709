"""Search space: operators, operator selection, blocks, the supernet, `Architecture`."""

from mias.space.architecture import Architecture, BlockChoice

__all__ = ["Architecture", "BlockChoice"]
