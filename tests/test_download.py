"""``python -m inpaint_lib.data download``, against a local HTTP server (no internet).

The server holds a small tiny-imagenet-200.zip of the published layout and answers Range requests; it
can drop the connection part-way through a response, or ignore Range. Every failure must be one line.
"""

import hashlib
import io
import re
import socket
import threading
import urllib.error
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from inpaint_lib.data import download as dl
from inpaint_lib.data import load_split
from inpaint_lib.data.__main__ import main

WNIDS = ("n01443537", "n01629819", "n01641577")


def jpeg(rng, gray=False):
    """A 64x64 JPEG (noise over a colour ramp) as Tiny ImageNet stores them; some of its photographs are grayscale."""
    ramp = np.linspace(0, 200, 64)[None, :, None] + rng.integers(0, 40, (64, 64, 3))
    pixels = np.clip(ramp, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels[..., 0]) if gray else Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def expected_32(data):
    """What the converter must make of one JPEG: RGB, box-downsampled to 32x32."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((32, 32), Image.BOX))


@pytest.fixture(scope="module")
def tiny_zip():
    """(zip bytes, {split: [(expected 32x32 image, label)]}) in the layout of tiny-imagenet-200.zip:
    wnids.txt, words.txt, train/<wnid>/<wnid>_boxes.txt + images/<wnid>_<i>.JPEG, val/val_annotations.txt +
    val/images/val_<i>.JPEG, test/images/test_<i>.JPEG (no labels, not converted); folders as entries too."""
    rng = np.random.default_rng(0)
    files = {"wnids.txt": "\n".join(WNIDS[::-1]) + "\n",  # the published file is not sorted; labels follow sorted order
             "words.txt": "".join(f"{w}\tclass {i}\n" for i, w in enumerate(WNIDS))}
    expected = {"train": [], "val": []}
    for label, wnid in enumerate(WNIDS):
        files[f"train/{wnid}/{wnid}_boxes.txt"] = "".join(f"{wnid}_{i}.JPEG\t0\t0\t63\t63\n" for i in range(2))
        for i in range(2):
            files[f"train/{wnid}/images/{wnid}_{i}.JPEG"] = data = jpeg(rng, gray=(label, i) == (1, 1))
            expected["train"].append((expected_32(data), label))
    rows = []
    for i, wnid in enumerate((WNIDS[2], WNIDS[0], WNIDS[1], WNIDS[2])):
        files[f"val/images/val_{i}.JPEG"] = data = jpeg(rng)
        rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63\n")
        expected["val"].append((expected_32(data), WNIDS.index(wnid)))
    files["val/val_annotations.txt"] = "".join(rows)
    files["test/images/test_0.JPEG"] = jpeg(rng)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        folders = sorted({name.rsplit("/", k)[0] + "/" for name in files for k in range(1, name.count("/") + 1)})
        for name in ["", *folders]:
            z.writestr(f"tiny-imagenet-200/{name}", b"")
        for name, content in files.items():
            z.writestr(f"tiny-imagenet-200/{name}", content)
    return buffer.getvalue(), expected


class Server:
    """A local HTTP server of one file that honours ``Range: bytes=N-`` (unless ``ignore_range``).

    ``drops``: for the first requests in turn, how many body bytes to send before closing the connection.
    ``ranges`` lists the Range header of every request (None: none).
    """

    def __init__(self, payload, drops=(), ignore_range=False, size=None):
        self.payload, self.drops, self.ignore_range, self.ranges = payload, list(drops), ignore_range, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/tiny-imagenet-200.zip":
                    self.send_error(404)
                    return
                asked = self.headers.get("Range")
                server.ranges.append(asked)
                data, start = server.payload, 0
                match = re.fullmatch(r"bytes=(\d+)-", asked or "")
                if match and not server.ignore_range:
                    start = int(match[1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.drops:
                    body = body[:server.drops.pop(0)]
                    self.close_connection = True  # the connection closes with the body unfinished
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tiny-imagenet-200.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve(tiny_zip, monkeypatch):
    """Factory: ``serve(drops=(), ignore_range=False, md5=None)`` starts a Server of the tiny zip and makes it
    the published source of tinyimagenet32 (with its true size, and its true MD5 unless ``md5`` is given)."""
    servers = []
    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)

    def start(drops=(), ignore_range=False, md5=None, payload=None):
        server = Server(payload or tiny_zip[0], drops, ignore_range)
        servers.append(server)
        monkeypatch.setitem(dl.SOURCES, "tinyimagenet32", dl.Source(
            "tiny-imagenet-200.zip", server.url, len(tiny_zip[0]), md5 or hashlib.md5(tiny_zip[0]).hexdigest()))
        return server

    yield start
    for server in servers:
        server.close()


def run(capsys, root, *args):
    """``python -m inpaint_lib.data --root ROOT download ARGS`` in this process: (exit status, stderr)."""
    status = main(["--root", str(root), "download", *args])
    return status, capsys.readouterr().err


def error_line(err):
    """The one error line of a failed command (and no other 'error' line)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def raw(root):
    return root / "tinyimagenet32" / "raw"


def assert_converted(root, tiny_zip):
    for split, items in tiny_zip[1].items():
        images, labels = load_split("tinyimagenet32", split, root, with_labels=True)
        assert images.dtype == np.uint8 and images.shape == (len(items), 32, 32, 3)
        assert labels.tolist() == [label for _, label in items]
        assert np.array_equal(images, np.stack([image for image, _ in items]))
    assert (raw(root) / "tiny-imagenet-200.zip").read_bytes() == tiny_zip[0]
    assert not (raw(root) / "tiny-imagenet-200.zip.part").exists()


def test_download_and_convert(serve, tiny_zip, data_root, capsys):
    server = serve()
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0, err
    assert server.ranges == [None]
    assert_converted(data_root, tiny_zip)
    # a second run finds the data set there and fetches nothing
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0 and "already in" in err and server.ranges == [None]
    # --force converts again from the checked zip that was kept, still without a request
    (data_root / "tinyimagenet32" / "val.npz").unlink()
    status, err = run(capsys, data_root, "tinyimagenet32", "--force")
    assert status == 0 and "already downloaded and checked" in err and server.ranges == [None]
    assert_converted(data_root, tiny_zip)


def test_a_broken_transfer_resumes_with_a_range_request(serve, tiny_zip, data_root, capsys):
    k = len(tiny_zip[0]) // 2
    server = serve(drops=[k])
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0, err
    assert server.ranges == [None, f"bytes={k}-"]
    assert f"broke at {k:,} of {len(tiny_zip[0]):,} bytes" in err
    assert_converted(data_root, tiny_zip)


def test_the_same_command_again_resumes(serve, tiny_zip, data_root, capsys, monkeypatch):
    monkeypatch.setattr(dl, "RETRIES", 0)  # the network is gone after the first bytes: the command gives up
    k = len(tiny_zip[0]) // 3
    server = serve(drops=[k])
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 1
    assert f"stopped at {k:,} of {len(tiny_zip[0]):,} bytes" in error_line(err)
    assert "run the same command again to resume" in error_line(err)
    assert (raw(data_root) / "tiny-imagenet-200.zip.part").stat().st_size == k
    assert not (data_root / "tinyimagenet32" / "train.npz").exists()
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0, err
    assert server.ranges == [None, f"bytes={k}-"] and f"resuming {raw(data_root)}" in err
    assert_converted(data_root, tiny_zip)


def test_a_server_that_ignores_range_restarts_cleanly(serve, tiny_zip, data_root, capsys):
    k = len(tiny_zip[0]) // 2
    raw(data_root).mkdir(parents=True)
    (raw(data_root) / "tiny-imagenet-200.zip.part").write_bytes(tiny_zip[0][:k])
    server = serve(ignore_range=True)
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0, err
    assert server.ranges == [f"bytes={k}-"]
    assert len([line for line in err.splitlines() if "HTTP 200, not 206" in line]) == 1
    assert_converted(data_root, tiny_zip)


def test_a_damaged_partial_file_restarts_from_zero(serve, tiny_zip, data_root, capsys):
    k = len(tiny_zip[0]) // 2
    raw(data_root).mkdir(parents=True)
    (raw(data_root) / "tiny-imagenet-200.zip.part").write_bytes(b"\0" * k)  # right length, wrong bytes
    server = serve()
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 0, err
    assert server.ranges == [f"bytes={k}-", None]
    assert "the resumed download fails its checksum" in err
    assert_converted(data_root, tiny_zip)


def test_a_wrong_checksum_fails_in_one_line_and_converts_nothing(serve, data_root, capsys):
    server = serve(md5="0" * 32)
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 1 and server.ranges == [None]
    line = error_line(err)
    assert "fails its checksum after a full download" in line
    assert f"md5 {'0' * 32}" in line and "by hand" in line
    assert not (data_root / "tinyimagenet32").exists()  # no npz, no zip, no .part, no empty folder is left


def test_another_file_at_the_address_is_refused_before_it_is_downloaded(serve, tiny_zip, data_root, capsys):
    serve(payload=b"<html>please log in</html>")
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 1
    assert f"sends 26 bytes, but tiny-imagenet-200.zip has {len(tiny_zip[0]):,}" in error_line(err)


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny-imagenet-200.zip"


@pytest.mark.parametrize("where", ["no server", "not found"])
def test_an_unreachable_address_says_how_to_download_by_hand(serve, data_root, capsys, where):
    server = serve()
    url = closed_port_url() if where == "no server" else server.url.replace(".zip", ".gone")
    status, err = run(capsys, data_root, "tinyimagenet32", "--url", url)
    assert status == 1
    line = error_line(err)
    assert line.startswith(f"error: cannot download {url} (")
    assert "HTTP 404" in line if where == "not found" else "refused" in line
    assert (f"download {url} by hand" in line
            and f"`python -m inpaint_lib.data --root {data_root} convert tinyimagenet32 PATH/tiny-imagenet-200.zip`"
            in line)
    assert not (data_root / "tinyimagenet32").exists()


def test_an_unwritable_data_root_fails_in_one_line(serve, data_root, capsys):
    serve()
    (data_root / "tinyimagenet32").mkdir()
    (data_root / "tinyimagenet32" / "raw").write_text("a file where the download folder belongs")
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 1
    assert re.match(r"error: cannot write .*raw \(.*\): free some disk space, or choose a writable data root",
                    error_line(err))


def test_cifar10_goes_through_torchvisions_downloader(data_root, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(dl, "convert_cifar10", lambda src, root, download: calls.append((src, root, download)) or {})
    assert run(capsys, data_root, "cifar10")[0] == 0
    assert calls == [(None, str(data_root), True)]

    def offline(src, root, download):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(dl, "convert_cifar10", offline)
    status, err = run(capsys, data_root, "cifar10")
    assert status == 1
    assert "by hand and run `python -m inpaint_lib.data --root" in error_line(err) and "convert cifar10" in err


def test_too_little_disk_space_fails_before_downloading(serve, data_root, capsys, monkeypatch):
    server = serve()
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    status, err = run(capsys, data_root, "tinyimagenet32")
    assert status == 1 and server.ranges == []
    assert "raw has 0.0 MB free, but the download needs 0.0 MB: free some disk space" in error_line(err)
