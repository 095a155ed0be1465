"""``python -m inpaint_lib.data``: list, build, download and convert the course's data sets.

    python -m inpaint_lib.data list
    python -m inpaint_lib.data build-sample
    python -m inpaint_lib.data download tinyimagenet32  # fetch (checked, resumable) and convert; or cifar10
    python -m inpaint_lib.data convert imagenet32 PATH        # npz batches or PNG folders
    python -m inpaint_lib.data convert tinyimagenet32 PATH    # tiny-imagenet-200 folder or .zip
    python -m inpaint_lib.data convert cifar10 [PATH] [--download]
    python -m inpaint_lib.data import-npz FILE NAME SPLIT     # an npz already in the canonical format

The data root is --root, else $INPAINT_DATA, else data/ in the repository.
"""

from __future__ import annotations

import argparse
import sys

from .converters import CONVERTERS, convert_cifar10, import_npz
from .download import DOWNLOADABLE, download_dataset
from .sample import build_sample
from .store import DATASETS, DataError, DatasetNotFound, data_root, dataset_path, load_split

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inpaint_lib.data", description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="data root (default: $INPAINT_DATA or data/)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="which data sets are present, with their sizes")
    sub.add_parser("build-sample", help="(re)build the embedded sample data set")
    download = sub.add_parser("download", help="download a published data set (checked, resumable) and convert it")
    download.add_argument("name", choices=DOWNLOADABLE)
    download.add_argument("--url", help="tinyimagenet32: another address of tiny-imagenet-200.zip (same size and MD5)")
    download.add_argument("--force", action="store_true", help="download and convert even when the data set is there")
    convert = sub.add_parser("convert", help="convert a published data set to the canonical npz")
    convert.add_argument("name", choices=sorted(CONVERTERS))
    convert.add_argument("src", nargs="?", help="the downloaded files (folder, zip or tarball)")
    convert.add_argument("--download", action="store_true", help="cifar10 only: download the binary release")
    imp = sub.add_parser("import-npz", help="copy a canonical npz into the data root")
    imp.add_argument("src")
    imp.add_argument("name", choices=sorted(DATASETS))
    imp.add_argument("split")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            print(f"data root: {data_root(args.root)}")
            for name, info in DATASETS.items():
                for split in info.splits:
                    path = dataset_path(name, split, args.root)
                    size = f"{len(load_split(name, split, args.root)):>9,} images" if path.exists() else "  missing"
                    print(f"  {name:15s} {split:6s} {size}  {path}")
        elif args.command == "build-sample":
            for split, path in build_sample(data_root(args.root)).items():
                print(f"{split}: {path}")
        elif args.command == "download":
            for split, path in download_dataset(args.name, args.root, url=args.url, force=args.force).items():
                print(f"{split}: {path}")
        elif args.command == "convert":
            if args.name == "cifar10":
                written = convert_cifar10(args.src, args.root, download=args.download)
            elif args.src is None:
                parser.error(f"convert {args.name} needs the path of the downloaded files")
            else:
                written = CONVERTERS[args.name](args.src, args.root)
            for split, path in written.items():
                print(f"{split}: {path}")
        elif args.command == "import-npz":
            print(import_npz(args.src, args.name, args.split, args.root))
    except (DataError, DatasetNotFound, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
