"""Tested building blocks of the image-inpainting course.

Every notebook imports from here; nothing a notebook shows is re-implemented there. The map below
has one line per module, a package's modules indented under it; a package's ``__init__`` gathers
the public names of its modules (``from inpaint_lib.pixelcnnpp import PixelCNNpp, inpaint``).
Images are float tensors (B, 3, H, W) in [-1, 1]; a mask is True where a pixel is missing.

- ``utils``                 seeding, devices and CPU threads, the repository's paths, atomic file writes, progress bars
- ``masks``                 which pixels are missing: ``lower_half`` (the task) and other shapes, masking, compositing
- ``metrics``               L1 / MSE / PSNR / SSIM / sharpness on the missing region only, per image; diversity
- ``baselines``             naive inpainting methods every model must beat: mean colour, last row, mirror, neighbour
- ``evaluation``            how every method is scored: one protocol, several completions side by side, a results table
- ``plausibility``          can a classifier tell completions from real lower halves? A two-sample test with controls
- ``viz``                   image grids (masked input | completions | truth), loss curves, diagrams of networks
- ``tryit``                 notebook 07: your own photograph and mask, PixelCNN++ row by row, its per-pixel beliefs
- ``tryit_widgets``         notebook 07's live version: a canvas to draw the mask on, completion row by row, clicks
- ``data``                  data sets in the course's canonical npz format
  - ``store``               the canonical store: where data sets live, how they are checked, read and written
  - ``tensors``             pixels <-> model inputs: uint8 (N, H, W, 3) in 0..255 <-> float (N, 3, H, W) in [-1, 1]
  - ``loader``              in-memory batches, shuffled reproducibly from (seed, epoch); the same data as a Dataset
  - ``sample``              the embedded ``sample`` set: 32x32 crops of scikit-image's photographs, built offline
  - ``converters``          the published ImageNet32, Tiny ImageNet and CIFAR-10 files -> the canonical store
  - ``download``            Tiny ImageNet fetched from its published address: checked, resumable, then converted
  - ``__main__``            ``python -m inpaint_lib.data``: list, build, convert and import data sets
- ``training``              training, written once for every model family
  - ``trainer``             :class:`Trainer`, the loop every family's trainer builds on; the non-finite guard
  - ``config``              :class:`TrainConfig`, presets, and the ``KEY=VALUE`` overrides of ``--set``
  - ``ema``                 the moving average of the weights (with a warm-up) that is evaluated and shipped
  - ``schedules``           learning-rate multipliers that follow a run's steps or its time budget
  - ``checkpoint``          atomic checkpoints, configuration checks, random-number-generator states
  - ``log``                 the CSV training log, kept consistent with the checkpoints; ``read_log``
  - ``__main__``            the training command line, one subcommand per model family
- ``train``                 ``python -m inpaint_lib.train``: the training command line (code in ``training.__main__``)
- ``pix2pix``               Pix2Pix (Isola et al. 2017)
  - ``networks``            U-Net generator, PatchGAN and PixelGAN discriminators, GAN losses, receptive fields
  - ``augment``             left-right flips and downward shifts of the training batches, drawn from (seed, step)
  - ``trainer``             :class:`Pix2PixTrainer`, its configuration and presets
  - ``inference``           a trained generator as an inpainting method; completions drawn with dropout on
- ``pixelcnnpp``            PixelCNN++ (Salimans et al. 2017)
  - ``layers``              the causal building blocks: shifted convolutions, concat_elu, the gated ResNet block
  - ``model``               :class:`PixelCNNpp`: an image in, the parameters of a logistic mixture per pixel out
  - ``likelihood``          the discretized logistic mixture likelihood in nats, and bits/dim
  - ``sampling``            drawing pixels from the mixture the network outputs; unconditional samples
  - ``inpainting``          sampling the missing pixels given the known ones, conditional bits/dim, best of n
  - ``fast_sampling``       the row-cached network behind the ``fast`` sampler
  - ``receptive_field``     which input pixels an output pixel depends on, read off from gradients
  - ``original_pixelcnn``   the original PixelCNN (masked convolutions, 256-way softmax), for contrast
  - ``trainer``             :class:`PixelCNNppTrainer`, its configuration and presets
- ``pretrained``            the trained models the course ships: 16-bit weights with their cards, checked on load
  - ``registry``            the shipped models, the commands that trained them, ``available`` and ``load``
  - ``export``              a finished run -> 16-bit weights and a card with figures from the course's evaluation
  - ``__main__``            ``python -m inpaint_lib.pretrained {list,train,export,verify}`` (``make pretrained``)
- ``course``                the course's own tooling: lectures, exercises, checks of students' answers
  - ``demo``                the lecture sequence and ``make demo`` (every notebook at its CPU demo size)
  - ``exercises``           ``exercises/`` generated from ``solutions/`` (``make exercises``)
  - ``site``                ``make site``: the course as a website (Sphinx), its link and figure checks
  - ``site_check``          the built site opened page by page in headless Chromium
  - ``install``             the supported Pythons and platforms, and ``.venv`` (``make venv``; standard library only)
  - ``__main__``            ``python -m inpaint_lib.course {demo,list,site}``
  - ``checks``              the ``check_*`` functions the exercise notebooks import
    - ``_common``           what every chapter's checks share: closeness, naming a mistake, the pass line
    - ``ch01_masking``      exercise 01: masking and PSNR
    - ``ch02_unet``         exercise 02: the U-Net skip connection block
    - ``ch03_patchgan``     exercise 03: PatchGAN and the GAN loss
    - ``ch04a_causal_conv`` exercise 04a: down-shifted convolutions and causality
    - ``ch04b_dmol``        exercise 04b: the discretized logistic mixture likelihood
    - ``ch05_ema``          exercise 05: the moving average of the weights and its warm-up
    - ``ch06_sampling``     exercise 06: drawing from the mixture, and conditional sampling
"""

__version__ = "0.1.0"
