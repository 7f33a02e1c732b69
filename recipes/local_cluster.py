#!/usr/bin/env python
"""Run a recipe as a whole TensorFlow cluster on this machine: ps tasks and workers as subprocesses.

  python recipes/local_cluster.py --ps 1 --workers 2 -- recipes/mnist_cnn.py --steps 500
  python recipes/local_cluster.py --workers 2 -- recipes/mnist_cnn.py --sync-replicas
  python recipes/local_cluster.py --workers 2 -- recipes/cifar10_cnn.py --dataset synthetic --steps 50

Free ports are picked on --host (127.0.0.1 unless you name another of this machine's addresses);
each task gets the recipe's flags plus --ps-hosts, --worker-hosts, --job-name and --task-index.
Output lines are prefixed with the task ([worker 1] ...); each task's log goes to
<output>/logs/ (the recipe's --output-dir, else runs/<recipe name>).  The ps tasks stop when the
workers finish; a failed task or the --timeout ends the run with one line and exit status 2.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from cnn_cookbook import cli  # noqa: E402


def parse_args(argv):
    p = cli.parser(__doc__)
    p.add_argument("--ps", type=cli.positive(), default=1, help="number of ps tasks")
    p.add_argument("--workers", type=cli.positive(), default=2, help="number of workers (worker 0 is the chief)")
    p.add_argument("--host", default="127.0.0.1", help="address the tasks listen on and reach each other by")
    p.add_argument("--timeout", type=cli.positive(float), default=3600.0,
                   help="seconds after which a cluster that has not finished is stopped")
    p.add_argument("recipe", help="the recipe script, after --")
    p.add_argument("recipe_args", nargs="*", help="the recipe's own flags")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        if "-h" in argv or "--help" in argv:
            p.parse_args(["--help"])
        p.error("give the recipe after --, e.g. -- recipes/mnist_cnn.py --steps 500")
    cut = argv.index("--")
    args = p.parse_args(argv[:cut] + argv[cut + 1:cut + 2])
    args.recipe_args = argv[cut + 2:]
    return args


def output_dir(recipe, recipe_args):
    """The recipe's --output-dir if given, else its default (runs/<recipe name>)."""
    for i, flag in enumerate(recipe_args):
        if flag == "--output-dir" and i + 1 < len(recipe_args):
            return Path(recipe_args[i + 1])
        if flag.startswith("--output-dir="):
            return Path(flag.split("=", 1)[1])
    return Path("runs") / Path(recipe).stem


@cli.main_wrapper
def main(argv=None):
    args = parse_args(argv)
    from cnn_cookbook.launcher import LocalCluster

    logs = output_dir(args.recipe, args.recipe_args) / "logs"
    cluster = LocalCluster(args.recipe, args.recipe_args, ps=args.ps, workers=args.workers, host=args.host,
                           log_dir=logs)
    print(f"cluster: ps {', '.join(cluster.ps_hosts)}; workers {', '.join(cluster.worker_hosts)}; logs in {logs}",
          flush=True)
    with cluster:
        cluster.start_all()
        cluster.wait(args.timeout)
    print(f"every task finished; the chief's outputs are in {logs.parent}")


if __name__ == "__main__":
    main()
