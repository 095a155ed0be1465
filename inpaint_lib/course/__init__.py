"""The course's own tooling: running the lectures, generating exercises, checking students' answers.

- :mod:`.demo`       the lecture sequence and ``make demo`` (every notebook at its CPU demo size)
- :mod:`.exercises`  ``exercises/`` generated from ``solutions/`` (``make exercises``)
- :mod:`.checks`     the ``check_*`` functions exercise notebooks import, one module per chapter

    python -m inpaint_lib.course demo [--out runs/demo] [--only 00 01]
    python -m inpaint_lib.course list
"""
