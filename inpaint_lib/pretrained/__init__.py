"""The course's trained models, shipped in the package: checksummed 16-bit weights, each with its card.

    from inpaint_lib import pretrained
    pretrained.available()                          # ['pixelcnnpp', 'unet_l1', ...]
    model, card = pretrained.load("pixelcnnpp")     # eval mode, float32; card: how it was made, its figures

- :mod:`.registry`  the shipped models and their recipes (the commands that trained them); loading, checked
- :mod:`.export`    a finished run -> 16-bit weights and a card with figures measured by the course's evaluation
- :mod:`.__main__`  ``python -m inpaint_lib.pretrained {list,train,export,verify}``; ``make pretrained``
"""

from .registry import RECIPES, Pretrained, Recipe, available, card, load

__all__ = ["RECIPES", "Recipe", "Pretrained", "available", "card", "load"]
