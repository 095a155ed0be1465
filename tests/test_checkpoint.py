import pytest
import torch

from inpaint_lib.training.checkpoint import check_config, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(3.0)}, "step": 7, "config": {"ngf": 8}}
    path = save_checkpoint(tmp_path / "run" / "last.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 7 and torch.equal(loaded["model"]["w"], torch.arange(3.0))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp files left


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"step": 1})

    def dies_half_way(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise KeyboardInterrupt("killed while writing")
    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class Code:
    pass


def test_unreadable_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"x": Code()}, tmp_path / "code.pt")  # a pickled class: weights_only refuses it
    with pytest.raises(ValueError, match="cannot be read"):
        load_checkpoint(tmp_path / "code.pt")


def test_check_config_names_the_differences():
    check_config({"a": 1, "b": 2}, {"a": 1, "b": 2})
    with pytest.raises(ValueError, match=r"b=2 \(now 3\)") as err:
        check_config({"a": 1, "b": 2}, {"a": 1, "b": 3})
    assert "a=" not in str(err.value)
    check_config({"a": 1, "b": 2}, {"a": 1, "b": 3}, keys=["a"])


def test_a_torch_file_that_is_not_a_checkpoint_is_refused_in_one_line(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "checkpoint.pt")  # loads safely, but holds a bare tensor
    with pytest.raises(ValueError, match="is not a checkpoint of this course \\(it holds a Tensor, not a dict\\)"):
        load_checkpoint(tmp_path / "checkpoint.pt")
