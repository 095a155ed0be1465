"""Pix2Pix (Isola et al. 2017): a U-Net generator, PatchGAN/PixelGAN discriminators, and their training.

- :mod:`.networks`   :class:`UnetGenerator`, :class:`NLayerDiscriminator`, :class:`PixelDiscriminator`, :class:`GANLoss`
- :mod:`.augment`    left-right flips and downward shifts of the training batches
- :mod:`.trainer`    :class:`Pix2PixTrainer` and its configuration (the course's one loop underneath)
- :mod:`.inference`  a trained generator as an inpainting method; completions drawn with dropout on
"""

from ..training.log import read_log
from .augment import random_flip, random_shift
from .inference import dropout_completions, inpainting_method
from .networks import (
    GAN_MODES,
    NORMS,
    GANLoss,
    NLayerDiscriminator,
    PixelDiscriminator,
    UnetGenerator,
    UnetSkipConnectionBlock,
    build_discriminator,
    count_parameters,
    init_weights,
    norm_layer,
    receptive_field_size,
    set_dropout,
)
from .trainer import (
    NET_D,
    PRESETS,
    Pix2PixConfig,
    Pix2PixTrainer,
    load_model,
    load_or_train,
    load_trainer,
    make_config,
    train,
)

__all__ = [
    "read_log",
    "UnetGenerator", "UnetSkipConnectionBlock", "NLayerDiscriminator", "PixelDiscriminator", "build_discriminator",
    "receptive_field_size", "GANLoss", "init_weights", "count_parameters", "set_dropout", "norm_layer", "NORMS",
    "GAN_MODES", "random_flip", "random_shift", "inpainting_method", "dropout_completions", "Pix2PixConfig",
    "Pix2PixTrainer", "PRESETS", "NET_D", "make_config", "train", "load_trainer", "load_model", "load_or_train",
]
