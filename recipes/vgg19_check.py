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
    from cnn_cookbook.io.downloads import ACCEPTED_MISMATCHES, fetch
    from cnn_cookbook.fileio import ensure_dir, write_json
    from cnn_cookbook.nets.vgg19 import center_crop_resize, load_vgg19_mat, top_classes
    from cnn_cookbook.paths import models_root
    from cnn_cookbook.stylenet import read_image
    from cnn_cookbook.tf1 import new_session, tf

    path = args.vgg or fetch("vgg19", models_root(), download=args.download)
    network = load_vgg19_mat(path)
    for note in network.notes:
        print(f"vgg19: {note}")
    image, note = read_image(args.image)
    if note:
        print(f"note: {args.image}: {note}")
    image = center_crop_resize(image, network.image_size)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, *network.image_size, 3])
        probabilities = network.stack().classify(images)
    with new_session(graph, args.device) as session:
        result = session.run(probabilities, {images: image[None]})[0]
    top = top_classes(result, network.class_names, args.top_k)
    for rank, (name, probability) in enumerate(top, 1):
        print(f"{rank}. {probability:7.2%}  {name}")
    output_dir = ensure_dir(args.output_dir, field="output_dir")
    write_json(output_dir / "metrics.json", {"network_file": str(path), "image": args.image, "seed": args.seed,
                                             "top": [{"class": n, "probability": p} for n, p in top],
                                             "checksum_mismatch_accepted": list(ACCEPTED_MISMATCHES)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
