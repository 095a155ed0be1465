"""Checks for the exercise notebooks: compare a student's function with ``inpaint_lib``'s.

Each ``check_*`` function runs the student's code on random and edge-case inputs and raises an
``AssertionError`` whose message says *what* is wrong ("row 16 is not missing: is the mask
shifted by one row?"), recognising the common mistakes by the numbers they produce. It prints
a short confirmation when everything agrees. One module per chapter; import them all from here.
"""

from .ch01_masking import check_lower_half_mask, check_psnr
from .ch02_unet import check_skip_block
from .ch03_patchgan import check_gan_loss, check_patchgan, check_receptive_field
from .ch04a_causal_conv import check_down_right_shifted_conv, check_down_shifted_conv, check_sees
from .ch04b_dmol import check_dmol_log_prob, check_log_bin_mass
from .ch05_ema import check_ema_decay, check_ema_update
from .ch06_sampling import check_inpaint_lower_half, check_mixture_sampler

__all__ = ["check_lower_half_mask", "check_psnr", "check_skip_block", "check_patchgan", "check_receptive_field",
           "check_gan_loss", "check_down_shifted_conv", "check_down_right_shifted_conv", "check_sees",
           "check_log_bin_mass", "check_dmol_log_prob", "check_ema_decay", "check_ema_update", "check_mixture_sampler",
           "check_inpaint_lower_half"]
