"""Diagrams of the networks, drawn from the model objects: boxes in running order, arrows from the data flow."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from inpaint_lib import viz  # noqa: E402
from inpaint_lib.pix2pix import UnetGenerator  # noqa: E402
from inpaint_lib.pixelcnnpp import DIAGRAM_UNITS, PixelCNNpp, diagram_stream  # noqa: E402


def skips(nodes):
    return [(j, i) for i, node in enumerate(nodes) for j in node.inputs if i - j > 1]


@pytest.mark.parametrize("skip", [True, False])
def test_the_unet_diagram_shows_a_skip_connection_per_inner_level_only_when_it_has_them(skip):
    model = UnetGenerator(ngf=4, skip=skip).train()
    nodes = viz.trace_network(model, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert model.training, "the mode is restored"
    assert [n.output_shape[-1] for n in nodes] == [16, 8, 4, 2, 1, 2, 4, 8, 16, 32], "down five times, up five times"
    found = skips(nodes)
    assert found == ([(3, 6), (2, 7), (1, 8), (0, 9)] if skip else []), found   # the outermost block concatenates none
    for j, i in found:
        assert nodes[j].output_shape[-1] == nodes[i].input_shape[-1], "a skip joins maps of one resolution"
    assert all(i - 1 in node.inputs and len(node.inputs) == 1 + sum(i == k for _, k in found)
               for i, node in enumerate(nodes)), "each unit reads the one before it, and its skip if it has one"
    fig = viz.draw_network(model, torch.zeros(1, 3, 32, 32))
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    arrows = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(boxes) == len(nodes) + 1                   # and the input
    assert len(arrows) == sum(len(n.inputs) for n in nodes)


def test_the_pixelcnnpp_diagram_follows_its_two_streams_and_long_skips():
    model = PixelCNNpp(nr_resnet=1, nr_filters=4, nr_logistic_mix=2)
    nodes = viz.trace_network(model, torch.zeros(1, 3, 32, 32), DIAGRAM_UNITS)
    names = [n.name for n in nodes]
    assert len(nodes) == 3 + 6 + 4 + 10 + 4 + 1, names    # stream starts, blocks up and down, resampling, output
    assert names[0] == "u_init" and names[-1] == "nin_out"
    assert all(j < i for i, node in enumerate(nodes) for j in node.inputs), "data flows forward in running order"
    def stream(name):
        if name.startswith(("up.", "down.")):
            return "ul" if name.endswith(".1") else "u"            # [u block, ul block] at every position
        return "ul" if "ul" in name or name == "nin_out" else "u"

    stream = {i: stream(n.name) for i, n in enumerate(nodes)}
    for i, node in enumerate(nodes):
        if stream[i] == "u":
            assert all(j == -1 or stream[j] == "u" for j in node.inputs), (node.name, node.inputs)  # u: only from above
    down_blocks = [i for i, n in enumerate(nodes) if n.name.startswith("down.")]
    for i in down_blocks:
        long = [j for j in nodes[i].inputs if nodes[j].name.startswith(("up.", "downsize", "u_init", "ul_init"))]
        assert long, f"{nodes[i].name} takes a kept output of the up pass"
        assert all(nodes[j].output_shape[-1] == nodes[i].input_shape[-1] for j in long)
    assert nodes[-1].output_shape == (20, 32, 32)
    # drawn on two lanes: a ul unit that runs right after a u unit shares its column, below it
    fig = viz.draw_network(model, torch.zeros(1, 3, 32, 32), DIAGRAM_UNITS, stream=diagram_stream)
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)][1:]     # the input's first
    assert [diagram_stream(n.name) for n in nodes] == [stream[i] if nodes[i].name != "nin_out" else "out"
                                                       for i in range(len(nodes))]
    columns = {}
    for node, box in zip(nodes, boxes, strict=True):
        columns.setdefault(box.get_x(), []).append((diagram_stream(node.name), box.get_y()))
    assert len(columns) == 15, "two init columns, 12 columns of u and ul units, the 1x1 output"
    shared = [lanes for lanes in columns.values() if len(lanes) == 2]
    assert len(shared) == 13 and all(u == "u" and ul == "ul" and yu > yl for (u, yu), (ul, yl) in shared)


def test_a_model_without_the_units_asked_for_is_one_line():
    with pytest.raises(ValueError, match="has no module of the classes"):
        viz.trace_network(torch.nn.Linear(3, 3), torch.zeros(1, 3), (torch.nn.Conv2d,))
