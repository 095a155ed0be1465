"""PixelCNN++ (Salimans et al. 2017): causal layers, the network, its likelihood, sampling.

- :mod:`.layers`           shifted convolutions, concat_elu, the gated ResNet block
- :mod:`.model`            :class:`PixelCNNpp`
- :mod:`.likelihood`       the discretized logistic mixture: :func:`discretized_mix_logistic_loss`, bits/dim
- :mod:`.sampling`         drawing pixels from the mixture the network outputs
- :mod:`.inpainting`       conditional sampling of the missing pixels (``naive`` and ``fast``), conditional bits/dim
- :mod:`.fast_sampling`    the row-cached network behind the ``fast`` sampler
- :mod:`.receptive_field`  which input pixels an output pixel depends on (gradient pictures)
- :mod:`.original_pixelcnn` the original PixelCNN (masked convolutions, 256-way softmax), for comparison
- :mod:`.trainer`          :class:`PixelCNNppTrainer` and its configuration (the course's one loop underneath)
"""

from ..training.log import read_log
from .inpainting import BestOfN, best_of_n, conditional_bits_per_dim, inpaint, inpainting_method, score_completions
from .layers import (
    NIN,
    DownRightShiftedConv2d,
    DownRightShiftedConvTranspose2d,
    DownShiftedConv2d,
    DownShiftedConvTranspose2d,
    GatedResNet,
    concat_elu,
    down_shift,
    image_and_border,
    right_shift,
)
from .likelihood import (
    bits_per_dim,
    channel_log_probs,
    discretized_mix_logistic_log_prob,
    discretized_mix_logistic_loss,
    mixture_parameters,
)
from .model import DIAGRAM_UNITS, PixelCNNpp, diagram_stream
from .receptive_field import receptive_field_map, unseen_context
from .sampling import SAMPLERS, quantize, sample, sample_from_discretized_mix_logistic
from .trainer import (
    PRESETS,
    PixelCNNppConfig,
    PixelCNNppTrainer,
    load_model,
    load_or_train,
    load_trainer,
    make_config,
    train,
)

__all__ = [
    "read_log",
    "PixelCNNpp", "DIAGRAM_UNITS", "diagram_stream", "discretized_mix_logistic_loss",
    "discretized_mix_logistic_log_prob",
    "channel_log_probs",
    "mixture_parameters", "bits_per_dim", "sample_from_discretized_mix_logistic", "quantize", "sample",
    "receptive_field_map", "inpaint", "inpainting_method", "conditional_bits_per_dim", "score_completions", "best_of_n",
    "unseen_context", "BestOfN", "SAMPLERS",
    "DownShiftedConv2d", "DownRightShiftedConv2d", "DownShiftedConvTranspose2d",
    "DownRightShiftedConvTranspose2d", "NIN", "GatedResNet", "concat_elu", "down_shift", "right_shift",
    "image_and_border", "PixelCNNppConfig", "PixelCNNppTrainer", "PRESETS", "make_config", "train", "load_trainer",
    "load_model", "load_or_train",
]
