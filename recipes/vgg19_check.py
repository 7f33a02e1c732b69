#!/usr/bin/env python
"""Check that imagenet-vgg-verydeep-19.mat is loaded right: classify a photograph with fc6-fc8.

  python recipes/vgg19_check.py                    # the bundled cat photograph (chelsea)
  python recipes/vgg19_check.py --image dog.jpg --top-k 10

With the real file and the default image the top classes should be cats (tabby, tiger cat,
Egyptian cat).  If the kernels were loaded with height and width swapped (as the cookbook's
code does) the features are scrambled and the top classes are usually wrong or far less sure.
Writes metrics.json (the top classes) into --output-dir.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--vgg", help="the .mat file (default: models/imagenet-vgg-verydeep-19.mat)")
    p.add_argument("--download", action="store_true", help="download the file if it is missing")
    p.add_argument("--image", default="chelsea", help="an image file or a bundled photograph")
    p.add_argument("--top-k", type=cli.positive(), default=5, help="how many classes to print")
    cli.add_run_args(p, output_dir="runs/vgg19_check", show=False, progress=False)
    cli.alias(p, "--top-k", "--top")
    return p.parse_args(argv)


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook.run_folder import claim
    from cnn_cookbook.stylenet import check_vgg19

    with claim(args.output_dir) as output_dir:  # held until the outputs are written
        run = check_vgg19(args.vgg, image=args.image, top_k=args.top_k, download=args.download, seed=args.seed,
                          device=args.device, output_dir=output_dir)
        cli.write_outputs(output_dir, run.metrics)
    for rank, top in enumerate(run.metrics["top"], 1):
        print(f"{rank}. {top['probability']:7.2%}  {top['class']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
