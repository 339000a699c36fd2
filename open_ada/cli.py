"""The `open-ada` command line: one entry point, one subcommand per job.

Each subcommand lives in its own module with `add_arguments(parser)` and `main(args)`; modules are imported
only when their subcommand runs, so `open-ada encode` does not pay for the training stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "encode": ("open_ada.encode", "embed texts and print embeddings and pairwise cosine similarities"),
    "evaluate": ("open_ada.evaluate", "STS-B and retrieval scores of models, side by side, in one run"),
    "train": ("open_ada.train", "train an AdaModel embedding model from a JSON config"),
    "embed-teacher": ("open_ada.teacher", "cache a teacher's embeddings of a distillation text pool"),
    "bench": ("open_ada.bench", "throughput and memory of encode vs plain forward, GemmaModel and MiniLM"),
    "serve": ("open_ada.serve", "serve an OpenAI-compatible /v1/embeddings API"),
    "loadtest": ("open_ada.loadtest", "concurrent load against a running server, compared with offline encode"),
}
# The commands that run the model for inference: they keep freed memory for reuse (open_ada/allocator.py).
INFERENCE_COMMANDS = ("encode", "evaluate", "bench", "serve")


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
        "evaluate": "train",
        "serve": "serve",
        "loadtest": "serve",
    }.get(command, "dev")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    if getattr(args, "missing", None):
        print(args.missing, file=sys.stderr)
        return 2
    args.argv = argv
    if args.command in INFERENCE_COMMANDS:
        from open_ada.allocator import keep_freed_memory

        args.allocator = keep_freed_memory()
    return importlib.import_module(SUBCOMMANDS[args.command][0]).main(args) or 0


if __name__ == "__main__":
    sys.exit(main())
