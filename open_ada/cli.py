"""The `open-ada` command line: one entry point, one subcommand per job.

Each subcommand lives in its own module with a config dataclass (the one copy of its defaults), `add_arguments(p)`
that builds its flags from that dataclass, and `main(args)` that turns the parsed flags into it at once. Modules
are imported only when their subcommand runs, so `open-ada encode` does not pay for the training stack.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys

SUBCOMMANDS = {
    "encode": ("open_ada.encode", "embed texts and print embeddings and pairwise cosine similarities"),
    "evaluate": ("open_ada.evaluate", "STS-B and retrieval scores of models, side by side, in one run"),
    "compare": ("open_ada.compare", "whether two evaluated models' retrieval scores differ beyond the queries' noise"),
    "train": ("open_ada.train", "train an AdaModel embedding model from a JSON config"),
    "embed-teacher": ("open_ada.teacher", "cache a teacher's embeddings of a distillation text pool"),
    "mine-negatives": ("open_ada.negatives", "mine hard negatives for a contrastive pair set with the teacher"),
    "interpolate": ("open_ada.interpolate", "mix the weights of a model and its fine-tuned descendant (WiSE-FT)"),
    "soup": ("open_ada.soup", "average the weights of sibling fine-tunes (a uniform model soup)"),
    "bench": ("open_ada.bench", "throughput and memory of encode vs plain forward, GemmaModel and MiniLM"),
    "serve": ("open_ada.serve", "serve an OpenAI-compatible /v1/embeddings API"),
    "loadtest": ("open_ada.loadtest", "concurrent load against a running server, compared with offline encode"),
}
# The commands that run the model for inference: they keep freed memory for reuse (open_ada/allocator.py).
INFERENCE_COMMANDS = ("encode", "evaluate", "bench", "serve")
# The commands that load models and data from disk and never download: set before huggingface_hub is imported.
OFFLINE_COMMANDS = ("encode", "evaluate", "train", "mine-negatives", "serve", "loadtest")


class FromArgs:
    """Mixin for a command's config dataclass: `from_args` builds it from the parsed flags of the same names."""

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def command_line() -> str:
    """The command this process runs, as a person would type it (`open-ada bench --smoke`), for reports."""
    return " ".join(["open-ada", *sys.argv[1:]])


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to define its arguments."""
    parser = argparse.ArgumentParser(prog="open-ada", description="open-ada text embeddings")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != command:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError as err:  # an extra that is not installed: say which
            p.set_defaults(missing=f"`open-ada {name}` needs {err.name}: pip install 'open-ada[{extra(name)}]'")
    return parser


def extra(command: str) -> str:
    return {
        "train": "train",
        "embed-teacher": "train",
        "mine-negatives": "train",
        "evaluate": "train",
        "compare": "train",
        "serve": "serve",
        "loadtest": "serve",
    }.get(command, "dev")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in OFFLINE_COMMANDS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser(command).parse_args(argv)
    if getattr(args, "missing", None):
        print(args.missing, file=sys.stderr)
        return 2
    if args.command in INFERENCE_COMMANDS:
        from open_ada.allocator import keep_freed_memory

        keep_freed_memory()
    return importlib.import_module(SUBCOMMANDS[args.command][0]).main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
