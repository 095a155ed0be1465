"""Tested building blocks of the image-inpainting course.

Every notebook imports from here; nothing a notebook shows is re-implemented there.
Modules, one concept each:

- ``data``        data sets in the canonical npz format, converters, loaders
- ``masks``       which pixels are missing, masking and compositing
- ``metrics``     L1 / MSE / PSNR / SSIM on the missing region only
- ``baselines``   naive inpainting methods every model must beat
- ``evaluation``  one evaluation protocol and one results table for every method
- ``viz``         image grids and loss curves
- ``checkpoint``  atomic checkpoints and configuration checks
- ``utils``       seeding and device selection
"""

__version__ = "0.1.0"
