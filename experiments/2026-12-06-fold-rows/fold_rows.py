"""The case-folded v13 (`../2026-12-05-prefix-space/case_fold_probe.py`) and a training config that retrains only the
rows of its renamed tokens (`train_token_ids`), whose rows were last trained on cased text (up to v5).

    python experiments/2026-12-06-fold-rows/fold_rows.py models/open-ada-small runs/v13-fold \
        experiments/2026-12-06-fold-rows/fold-rows.json --base experiments/2026-12-06-fold-rows/base.json
"""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from tokenizers import Tokenizer

PROBE = Path(__file__).parents[1] / "2026-12-05-prefix-space" / "case_fold_probe.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("output")
    parser.add_argument("config", help="training config to write")
    parser.add_argument("--base", required=True, help="training config whose fields it copies")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("case_fold_probe", PROBE)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    before = json.loads((Path(args.folder) / "tokenizer.json").read_text())["model"]["vocab"]
    sys.argv = ["case_fold_probe", args.folder, args.output]
    probe.main()
    after = Tokenizer.from_file(str(Path(args.output) / "tokenizer.json")).get_vocab()
    ids = sorted(i for token, i in before.items() if after.get(token) != i)  # the renamed tokens
    config = {**json.loads(Path(args.base).read_text()), "init_model": args.output, "train_token_ids": ids}
    Path(args.config).write_text(json.dumps(config, indent=2) + "\n")
    print(f"{args.config}: {len(ids)} token rows train")


if __name__ == "__main__":
    main()
