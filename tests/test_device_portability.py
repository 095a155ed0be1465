"""Every student's machine: the device choice, no float64 on the model's device, compiling where no compiler is.

An Apple GPU (MPS) has no float64: a float64 tensor there is an error. CI has no Mac, so a guard
(:class:`NoFloat64OnDevice`) watches every operation while the library trains, evaluates, samples
and inpaints on the CPU, and fails on any float64 tensor an operation makes or reads. The CPU is
then both the model's device and the host, so the library's float64 bookkeeping (exact sums of
float32 values) happens only on explicit host copies (:func:`inpaint_lib.utils.to_host`, a real
copy even of a CPU tensor), which the guard sees and lets through, with all that is computed from
them. Code that computed float64 on the device would fail on a Mac, and fails the guard here.
"""

from __future__ import annotations

import math
import types
import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from inpaint_lib import utils
from inpaint_lib.evaluation import complete, evaluate, score
from inpaint_lib.masks import lower_half
from inpaint_lib.pix2pix import Pix2PixTrainer
from inpaint_lib.pix2pix import make_config as pix2pix_config
from inpaint_lib.pixelcnnpp import PixelCNNppTrainer, inpaint, inpainting_method, sample
from inpaint_lib.pixelcnnpp import make_config as pixelcnnpp_config
from inpaint_lib.training import Trainer
from inpaint_lib.training.trainer import AUTO_COMPILE_MIN_STEPS

aten = torch.ops.aten
CPU = torch.device("cpu")


class NoFloat64OnDevice(TorchDispatchMode):
    """Records every operation that makes or reads a float64 tensor, except on explicit host copies.

    A host copy is the result of ``_to_copy`` to the CPU (``t.to("cpu", copy=True)``; a plain
    ``.cpu()`` of a CPU tensor is no operation at all, so it is not one); what an operation computes
    from a host copy is host too. ``offences`` lists the rest: ``(operation, dtype, device)``.
    """

    def __init__(self):
        super().__init__()
        self.offences: list[tuple[str, torch.dtype, torch.device]] = []
        self._host: dict[int, weakref.ref] = {}   # by id, checked by identity (tensors' == is elementwise)

    def _is_host(self, t: torch.Tensor) -> bool:
        ref = self._host.get(id(t))
        return ref is not None and ref() is t

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        to_host = func is aten._to_copy.default and kwargs.get("device") == CPU
        from_host = any(self._is_host(t) for t in inputs)
        if to_host or from_host:
            for t in outputs:
                self._host[id(t)] = weakref.ref(t)
        for t in (*(t for t in inputs if not self._is_host(t)), *([] if to_host or from_host else outputs)):
            if t.dtype == torch.float64:
                self.offences.append((str(func), t.dtype, t.device))
        return out


@pytest.fixture
def no_float64():
    """Run the test's block under the guard: ``with no_float64() as guard: ...``; it fails on an offence."""
    import contextlib

    @contextlib.contextmanager
    def guarded():
        guard = NoFloat64OnDevice()
        with guard:
            yield guard
        assert not guard.offences, f"float64 on the model's device (an Apple GPU has none): {guard.offences[:5]}"
    return guarded


# ---------------------------------------------------------------- the guard itself

def test_the_guard_fires_on_float64_made_on_the_device_and_lets_host_copies_through():
    x = torch.rand(4)
    for make in (lambda: torch.zeros(2, dtype=torch.float64), lambda: x.double(), lambda: x.double().sum(),
                 lambda: torch.tensor([0.5], dtype=torch.float64), lambda: x * torch.ones(4, dtype=torch.float64)):
        with NoFloat64OnDevice() as guard:
            make()
        assert guard.offences and guard.offences[0][1] == torch.float64
    with NoFloat64OnDevice() as guard:   # the library's way: float64 only on a copy made on the host
        total = utils.host_float64(x).sum().item()
        mean = utils.to_host(x).double()[x.to("cpu", copy=True) > 0].mean()
        x.float().sum()
    assert not guard.offences and total == x.double().sum().item() and mean.dtype == torch.float64


def test_the_guard_fixture_fails_the_test_on_an_offence(no_float64):
    with pytest.raises(AssertionError, match="float64 on the model's device"):
        with no_float64():
            torch.zeros(2, dtype=torch.float64)


# ---------------------------------------------------------------- training, evaluation, sampling

def test_a_pix2pix_run_with_its_evaluation_makes_no_float64(tiny_root, tmp_path, no_float64):
    config = pix2pix_config("demo", data_root=str(tiny_root), run_dir=str(tmp_path), ngf=8, ndf=8, batch_size=8,
                            max_steps=2, log_every=1, eval_every=2, eval_images=8, sample_every=0,
                            checkpoint_every=2, progress=False, device="cpu", compile=False)
    trainer = Pix2PixTrainer(config)
    with no_float64():
        log = trainer.fit()
    assert log["step"] == [1, 2] and math.isfinite(log["test_l1_x100"][-1])


def test_a_pixelcnnpp_run_with_its_evaluation_and_samples_makes_no_float64(tiny_root, tmp_path, monkeypatch,
                                                                          no_float64):
    monkeypatch.setenv("INPAINT_DATA", str(tiny_root))
    config = pixelcnnpp_config(None, dataset="cifar10", nr_resnet=1, nr_filters=8, nr_logistic_mix=3, dropout=0.5,
                               batch_size=8, max_steps=2, log_every=1, eval_every=2, eval_images=10, sample_every=0,
                               checkpoint_every=2, run_dir=str(tmp_path), seed=3, progress=False, device="cpu",
                               compile=False)
    trainer = PixelCNNppTrainer(config)
    with no_float64():
        log = trainer.fit()
        drawn = trainer.samples(n=1)
    assert log["step"] == [1, 2] and math.isfinite(log["test_bpd"][-1]) and drawn.shape == (1, 3, 32, 32)


def test_pixelcnnpp_sampling_inpainting_and_scoring_make_no_float64(tiny_pixelcnnpp, random_images, no_float64):
    model = tiny_pixelcnnpp(image_size=16)
    images, mask = random_images(2, 16), lower_half(16, 16)
    with no_float64():
        for sampler in ("naive", "fast"):
            drawn = inpaint(model, images, mask, n_samples=2, sampler=sampler,
                            generator=torch.Generator().manual_seed(0))
            assert drawn.shape == (2, 2, 3, 16, 16)
        assert sample(model, 1, generator=torch.Generator().manual_seed(0)).shape == (1, 3, 16, 16)
        done = complete(inpainting_method(model, sampler="fast"), images, mask, n=2)
        figures = score(done, images, mask, density_model=model)
    assert {"diversity", "bpd_under_pixelcnnpp", "ssim"} <= set(figures)
    assert all(math.isfinite(figures[k]) for k in ("diversity", "bpd_under_pixelcnnpp", "l1_x100"))


def test_evaluate_makes_no_float64(tiny_root, no_float64):
    with no_float64():
        figures = evaluate(lambda masked, mask: masked, "sample", "test", n_images=10, batch_size=4,
                           root=str(tiny_root), progress=False)
    assert figures["n_images"] == 10 and math.isfinite(figures["psnr"])


def test_the_shared_clock_travels_bit_for_bit_as_an_int64(monkeypatch, no_float64):
    """torchrun under a time budget: process 0's float64 seconds reach every process exactly, as an int64."""
    sent = []
    monkeypatch.setattr(torch.distributed, "broadcast", lambda tensor, src: sent.append(tensor.dtype))
    trainer = types.SimpleNamespace(world_size=2, config=types.SimpleNamespace(time_budget_s=60.0), device=CPU)
    with no_float64():
        for seconds in (0.0, 1e-9, 0.1, 86_400.123456789, 3.0e7 + 1 / 3):
            assert Trainer._shared_clock(trainer, seconds) == seconds
    assert sent == [torch.int64] * 5


# ---------------------------------------------------------------- the device choice

@pytest.mark.parametrize("cuda, mps, chosen", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                               (False, False, "cpu")])
def test_auto_prefers_cuda_then_an_apple_gpu_then_the_cpu(monkeypatch, cuda, mps, chosen):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert utils.pick_device("auto") == torch.device(chosen)
    assert utils.pick_device("cpu") == CPU


def test_a_device_this_machine_lacks_fails_in_one_line_saying_what_it_has(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name, said in (("mps", r"'mps' asked for, but no Apple GPU \(MPS\) is available here; use device='cpu'"),
                       ("cuda", "'cuda' asked for, but CUDA is not available here; use device='cpu' or 'auto'"),
                       ("gpu", r"unknown device 'gpu'; the course runs on 'auto', 'cpu', 'cuda' \(or 'cuda:N'\) and "
                               "'mps', and this machine has 'cpu'"),
                       ("xla", "unknown device 'xla'")):
        with pytest.raises(ValueError, match=said) as error:
            utils.pick_device(name)
        assert "\n" not in str(error.value) and "this machine has 'cpu'" in str(error.value)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert utils.pick_device("mps") == torch.device("mps")


def test_an_apple_gpu_trains_in_float32_and_synchronises_for_its_clock(monkeypatch):
    mps = torch.device("mps")
    assert not utils.native_bf16(mps)                         # so the trainers' autocast stays off there
    assert not utils.has_float64(mps) and utils.has_float64(CPU)
    assert utils.storable_dtype(torch.float64, mps) == torch.float32
    assert utils.storable_dtype(torch.float64, CPU) == torch.float64
    assert utils.storable_dtype(torch.float16, mps) == torch.float16
    waited = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waited.append("mps"))
    utils.synchronize(mps)
    utils.synchronize(CPU)
    assert waited == ["mps"]


def test_torchrun_on_an_apple_gpu_is_refused_in_one_line(tiny_root, tmp_path, monkeypatch):
    """gloo carries CPU tensors only: several processes on one Apple GPU are refused before any process group."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("INPAINT_DATA", str(tiny_root))):
        monkeypatch.setenv(name, value)
    config = pixelcnnpp_config("demo", dataset="cifar10", run_dir=str(tmp_path), device="mps")
    with pytest.raises(ValueError, match=r"torchrun's processes train on CUDA GPUs \(NCCL\) or on the CPU \(gloo\), "
                                         "not on 'mps'; run without torchrun"):
        PixelCNNppTrainer.train(config)


# ---------------------------------------------------------------- compiling where no compiler is

def long_pix2pix(root, run_dir, **overrides):
    """A tiny Pix2Pix run whose length makes compile='auto' compile."""
    settings = dict(data_root=str(root), run_dir=str(run_dir), ngf=8, ndf=8, batch_size=8, log_every=1,
                    sample_every=0, checkpoint_every=10**6, progress=False, device="cpu", netD="pixel",
                    max_steps=AUTO_COMPILE_MIN_STEPS, ema_decay=0.0)
    return pix2pix_config("demo", **{**settings, **overrides})


def test_without_a_cpp_compiler_auto_trains_eagerly_and_compile_true_stops(tiny_root, tmp_path, monkeypatch, capsys):
    from inpaint_lib.training import compile_problem
    assert compile_problem(CPU) is None, "this machine's C++ compiler should be found"
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    problem = ("inductor finds no working C++ compiler (/nonexistent/c++); install g++ or clang++ (on Windows "
               "MSVC's Build Tools, used from their developer prompt) or set CXX to one")
    assert compile_problem(CPU) == problem
    trainer = Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path))
    assert not trainer.compiled and trainer.G is trainer.model
    assert capsys.readouterr().out.strip().splitlines() == [f"pix2pix: not compiling, training eagerly: {problem}"]
    with pytest.raises(ValueError, match=r"compile=true, but inductor finds no working C\+\+ compiler "
                                         r"\(/nonexistent/c\+\+\); install .* or set CXX to one; or set compile=false$"
                       ) as error:
        Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path, compile=True))
    assert "\n" not in str(error.value)
    # a short run never looks for a compiler, and compile=false never does
    assert not Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path, max_steps=4)).compiled
    assert not Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path, compile=False)).compiled
    assert capsys.readouterr().out == ""


def test_auto_does_not_compile_on_an_apple_gpu(tiny_root, tmp_path, monkeypatch, capsys):
    """Decided before any network is built (a CPU machine cannot build one on MPS): eager, with one line."""
    monkeypatch.setattr(Pix2PixTrainer, "build", lambda self: setattr(self, "optimizers", []))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    config = long_pix2pix(tiny_root, tmp_path, device="mps")
    monkeypatch.setattr(Pix2PixTrainer, "total_steps", AUTO_COMPILE_MIN_STEPS)
    assert not Pix2PixTrainer(config).compiled
    assert capsys.readouterr().out.strip() == ("pix2pix: compile=auto compiles on CPUs and CUDA GPUs only; "
                                               "training eagerly on mps")


def test_a_compile_that_fails_in_the_warm_up_goes_on_eagerly_from_the_same_state(tiny_root, tmp_path, monkeypatch,
                                                                                 capsys):
    """What the look for a compiler cannot see (here: inductor's own compiler setting is broken) fails the
    warm-up's compile: compile='auto' then trains eagerly, exactly as an eager run; compile=True stops."""
    import torch._dynamo
    import torch._inductor.config as inductor_config
    monkeypatch.setattr("inpaint_lib.training.trainer.compile_problem", lambda device: None)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    eager = Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path / "eager", compile=False))
    eager.fit(steps=1)
    # config.patch, not monkeypatch: pytest's undo would delete the setting, which inductor then hides
    with inductor_config.patch({"cpp.cxx": ("/nonexistent/c++",)}):
        torch._dynamo.reset()
        trying = Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path / "trying"))
        assert trying.compiled
        capsys.readouterr()
        trying.fit(steps=1)
        printed = capsys.readouterr().out.strip().splitlines()
        assert len(printed) == 1 and printed[0].startswith("pix2pix: compiling failed (") \
            and printed[0].endswith("); training eagerly") and "C++ compiler" in printed[0]
        assert not trying.compiled and trying.G is trying.model and trying.D is trying.netD and trying.step == 1
        for a, b in zip(eager.model.state_dict().values(), trying.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)
        torch._dynamo.reset()
        strict = Pix2PixTrainer(long_pix2pix(tiny_root, tmp_path / "strict", compile=True))
        with pytest.raises(RuntimeError, match=r"compile=true, but compiling failed: .*C\+\+ compiler.*; fix that, "
                                               "or set compile=false") as error:
            strict.fit(steps=1)
        assert "\n" not in str(error.value)
    torch._dynamo.reset()
