"""The command-line convention: parsers, the flag and alias tables of docs/command-line.md, and
the example commands in the help, the README and the chapter guides in docs/.

Parse-level and in-process: every recipe's parser is built by its own ``parse_args`` (caught
before it parses), so these tests cost no TensorFlow run.
"""

import argparse
import re
import shlex

import pytest

from conftest import REPO, load_recipe
from cnn_cookbook import cli
from cnn_cookbook.progress import PlainProgress

RECIPES = ("mnist_cnn", "cifar10_cnn", "mnist_ensemble", "retrain_inception", "stylenet", "vgg19_check",
           "deepdream", "visualize_filters", "adversarial_noise", "adversarial_image")
COMMAND_LINE = (REPO / "docs" / "command-line.md").read_text()
# every example command a reader may copy: the README and each chapter guide
DOCS = "".join(path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])


class _Built(Exception):
    pass


def _parsers():
    """{'mnist_cnn': parser, 'retrain_inception retrain': sub-parser, ...} for every recipe."""
    def built(self, args=None, namespace=None):
        raise _Built(self)

    original, cli.ArgumentParser.parse_args = cli.ArgumentParser.parse_args, built
    found = {}
    try:
        for name in RECIPES:
            try:
                load_recipe(name).parse_args([])
            except _Built as done:
                found[name] = done.args[0]
    finally:
        cli.ArgumentParser.parse_args = original
    for name, p in list(found.items()):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update({f"{name} {command}": sub for command, sub in action.choices.items()})
    return found


PARSERS = _parsers()


def shown_flags(p):
    return {s for a in p._actions if a.help != argparse.SUPPRESS for s in a.option_strings}


def guide_table(heading):
    """Rows (lists of cells, backticks kept) of the first table after the line ``heading`` in
    docs/command-line.md."""
    lines = COMMAND_LINE[COMMAND_LINE.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def quoted(cell):
    return re.findall(r"`([^`]+)`", cell)


def test_every_parser_refuses_abbreviations_and_documents_every_flag():
    assert set(RECIPES) <= set(PARSERS) and "retrain_inception retrain" in PARSERS
    for key, p in PARSERS.items():
        assert p.allow_abbrev is False, key
        text = p.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, key
        for action in p._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help and action.help.strip(), (key, action.option_strings)
                if action.default not in (None, False, argparse.SUPPRESS) and not isinstance(action.default, bool) \
                        and "default" not in action.help.lower():
                    # the real default is in the help line as printed
                    line = p._get_formatter()._get_help_string(action)
                    assert "(default: " in line, (key, action.option_strings)
    # a prefix of a flag is an error, not silently another flag
    with pytest.raises(SystemExit):
        PARSERS["mnist_cnn"].parse_args(["--output-d", "x"])
    args = PARSERS["stylenet"].parse_args(["--output", "out.png"])
    assert args.output == "out.png" and args.output_dir == "runs/stylenet"


def test_readme_flag_table_matches_the_parsers():
    rows = guide_table("| idea | flag | recipes |")
    assert len(rows) >= 20
    for idea, flags, recipes in rows:
        for key in quoted(recipes):
            assert key in PARSERS, (idea, key)
            for flag in quoted(flags):
                assert flag in shown_flags(PARSERS[key]), (idea, flag, key)
    # the ideas with one spelling: no recipe shows another spelling of them
    retired = {alias for alias, *_ in (r for r in guide_table("| alias | our flag | recipes | from |"))
               for alias in quoted(alias)}
    for key, p in PARSERS.items():
        assert not retired & shown_flags(p), key


def _value_for(action):
    if action.nargs == 0:
        return []
    if action.choices:
        return [list(action.choices)[-1]]
    return ["3"]


def test_readme_alias_table_matches_the_parsers_both_ways():
    listed = set()
    for alias_cell, flag_cell, recipes, _ in guide_table("| alias | our flag | recipes | from |"):
        (flag,) = quoted(flag_cell)
        for key in quoted(recipes):
            p = PARSERS[key]
            for alias in quoted(alias_cell):
                listed.add((key, alias))
                assert cli.aliases(p).get(alias) == flag, (key, alias, flag)
                action = cli.find_action(p, flag)
                value = _value_for(action)
                positional = ["image.png"] if key.endswith(" predict") else []
                ours = vars(p.parse_args(positional + [flag] + value))
                theirs = vars(p.parse_args(positional + [alias] + value))
                assert theirs == ours and ours[action.dest] != action.default, (key, alias)
    found = {(key, alias) for key, p in PARSERS.items() for alias in cli.aliases(p)}
    assert found == listed, found ^ listed


def test_source_program_spellings_keep_their_meanings():
    style = PARSERS["stylenet"]
    args = style.parse_args(["--network", "my.mat", "--styles", "a.jpg", "b.jpg", "--iterations", "7",
                             "--output", "o.png", "--initial", "start.png", "--checkpoint-output", "s%s.png"])
    assert (args.vgg, args.model, args.style, args.steps) == ("my.mat", "vgg19", ["a.jpg", "b.jpg"], 7)
    assert (args.output, args.init, args.checkpoint_output) == ("o.png", "start.png", "s%s.png")
    assert style.parse_args(["--network", "vgg16"]).model == "vgg16"  # the earlier spelling
    assert PARSERS["visualize_filters"].parse_args(["--network", "inception-v3"]).model == "inception_v3"
    assert PARSERS["adversarial_image"].parse_args(["--inception", "stand-in"]).model == "stand-in"
    retrain = PARSERS["retrain_inception retrain"].parse_args(
        ["--how_many_training_steps", "5", "--validation_batch_size", "-1", "--print_misclassified_test_images"])
    assert (retrain.steps, retrain.validation_batch_size, retrain.print_misclassified_test_images) == (5, -1, True)
    assert PARSERS["mnist_cnn"].parse_args(["--log_device_placement"]).log_device_placement is True


def _examples(text):
    """(recipe key, argv) of each example line ``python recipes/<name>.py ...`` in ``text``
    (code blocks and help text; not commands quoted inside prose)."""
    found = []
    for line in text.splitlines():
        if not line.strip().startswith("python recipes/"):
            continue
        for command in line.split("&&"):
            match = re.search(r"python recipes/(\w+)\.py(.*)", command)
            if match:
                argv = shlex.split(match.group(2).split("#")[0])
                name = match.group(1)
                key = f"{name} {argv[0]}" if name == "retrain_inception" and argv else name
                found.append((key, argv[1:] if key != name else argv))
    return found


def test_every_help_and_readme_example_parses():
    examples = _examples(DOCS)
    for name in RECIPES:
        examples += _examples(load_recipe(name).__doc__)
    assert len(examples) >= 60
    for key, argv in examples:
        if key not in PARSERS:
            continue  # a retrain_inception line without a command: the parser's own usage error
        try:
            PARSERS[key].parse_args(argv)
        except SystemExit:
            pytest.fail(f"example does not parse: {key} {' '.join(argv)}")


def test_every_runs_path_in_examples_is_a_recipe_output_folder():
    """``runs/<name>/...`` in help, README and docs examples names a folder a recipe writes by default."""
    defaults = {}
    for key, p in PARSERS.items():
        for action in p._actions:
            if action.default and isinstance(action.default, str) and action.default.startswith("runs/"):
                defaults[action.default] = key
    text = DOCS + "".join(load_recipe(name).__doc__ for name in RECIPES)
    paths = set(re.findall(r"\bruns/[\w./-]+", text))
    assert paths
    for path in paths:
        top = "/".join(path.rstrip("./").split("/")[:2])
        assert top in defaults, f"{path}: no recipe writes {top}"


def test_plain_progress_lines_have_no_carriage_returns(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as stream:
        with PlainProgress(total=4, desc="train", unit="step", stream=stream, interval=0) as bar:
            for step in range(4):
                bar.set_postfix(loss=f"{1.0 / (step + 1):.3f}")
                bar.update()
        with PlainProgress(total=4, desc="quiet", stream=stream, interval=3600) as bar:
            bar.update(4)  # shorter than the interval: no line
    lines = log.read_text().splitlines()
    assert "\r" not in log.read_text() and len(lines) == 4
    assert lines[-1].startswith("train: 4/4 step (100%)") and lines[-1].endswith("loss=0.250")


def test_show_without_a_display_says_so(monkeypatch, capsys, tmp_path):
    from cnn_cookbook import plots

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    figure = plots.new_figure()
    figure.add_subplot().plot([0, 1])
    plots.finish({"line": figure}, tmp_path, show=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("--show: ") and str(tmp_path) in out[0]
    assert (tmp_path / "line.png").is_file()


def test_a_library_error_names_its_setting_and_the_command_line_adds_the_flag(capsys):
    from cnn_cookbook.errors import CookbookError

    p = cli.parser("t")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--output-dir")
    cli.alias(p, "--batch-size", "--batch_size")
    p.parse_args(["--batch_size", "3"])

    @cli.main_wrapper
    def main(argv=None):
        raise CookbookError("the batch size 3 is larger than the data (2 examples)", field="batch_size")

    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    # the library's own words, then the canonical spelling of the flag (not the alias used)
    assert capsys.readouterr().err == ("error: the batch size 3 is larger than the data (2 examples) "
                                       "(set with --batch-size)\n")
    both = CookbookError("x", field=("batch_size", "output_dir"))
    assert cli.error_line(both) == "x (set with --batch-size and --output-dir)"
    # a setting this recipe has no flag for (or no field at all): the message alone
    assert cli.error_line(CookbookError("x", field="momentum")) == "x"
    assert cli.error_line(CookbookError("x")) == "x"
