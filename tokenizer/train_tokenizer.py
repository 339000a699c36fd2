"""Trains open-ada's byte-level BPE tokenizer on text files and saves it as a Transformers fast tokenizer.

    python tokenizer/train_tokenizer.py --vocab-size 16384 --output runs/tokenizer corpus1.txt corpus2.txt

A new vocabulary fits no trained weights, so `--output` may not be a folder that holds them: `open-ada train` builds a
new model's tokenizer itself, and a trained model keeps its own.

Byte-level BPE covers every byte, so no input maps to an unknown token. The post-processor appends `</s>` (EOS)
to every sequence; Transformers truncation keeps room for it, so truncated texts still end in EOS (the
`add_eos_token` flag of `tokenizer_config.json` is ignored by Transformers 5 and is not relied on).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"  # ids 0, 1, 2: AdaConfig's default pad/bos/eos_token_id


def uncased_normalizer() -> normalizers.Normalizer:
    """Lower case, as the uncased teacher's WordPiece reads text: a distilled student has no use for case (its target
    ignores it), and a cased BPE splits all-capitals words (`AIRBUS` -> `AI RB US`) and lower-cased names apart.
    Accents are kept (the byte-level BPE covers them)."""
    return normalizers.Lowercase()


def make_uncased(tokenizer: PreTrainedTokenizerFast) -> bool:
    """Puts `uncased_normalizer` in front of a trained tokenizer's BPE (vocabulary and merges unchanged); returns
    whether it changed anything. Raises ValueError if the tokenizer already has another normaliser."""
    backend = tokenizer.backend_tokenizer
    current = json.loads(backend.to_str())["normalizer"]
    wanted = json.loads(uncased_normalizer().__getstate__())
    if current == wanted:
        return False
    if current is not None:
        raise ValueError(f"the tokenizer already has a normaliser ({current}); uncased needs none or {wanted}")
    backend.normalizer = uncased_normalizer()
    return True


def byte_level(add_prefix_space: bool) -> tuple[pre_tokenizers.PreTokenizer, decoders.Decoder]:
    """The byte-level pre-tokenizer and its decoder. With `add_prefix_space`, a space goes before a text's first word,
    so that it becomes the tokens the word is anywhere else (`causes` -> `Ġcauses`, not `c aus es`), as the teacher's
    WordPiece reads every word alike wherever it stands: a short query's first word is much of it. The decoder then
    drops that space again."""
    decoder = decoders.ByteLevel()
    if add_prefix_space:
        decoder = decoders.Sequence([decoder, decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    return pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space), decoder


def make_prefix_space(tokenizer: PreTrainedTokenizerFast) -> bool:
    """Gives a trained byte-level tokenizer `byte_level(add_prefix_space=True)` (vocabulary and merges unchanged);
    returns whether it changed anything. Raises ValueError if its pre-tokenizer is not byte-level."""
    backend = tokenizer.backend_tokenizer
    current = json.loads(backend.to_str())["pre_tokenizer"]
    if current.get("type") != "ByteLevel":
        raise ValueError(f"the tokenizer's pre-tokenizer is {current}; add_prefix_space needs a byte-level one")
    if current["add_prefix_space"]:
        return False
    backend.pre_tokenizer, backend.decoder = byte_level(add_prefix_space=True)
    return True


def build_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 16384,
    model_max_length: int = 512,
    uncased: bool = False,
    add_prefix_space: bool = False,
) -> PreTrainedTokenizerFast:
    """Trains a byte-level BPE on `texts` and wraps it as a fast tokenizer that appends EOS.

    Args:
        texts: Training text, any iterable of strings.
        vocab_size: Vocabulary size including the 256 byte tokens and the three special tokens.
        model_max_length: Longest input in tokens (EOS included); set it to the trained context.
        uncased: lower-case every input first (`uncased_normalizer`), also before the BPE is learned.
        add_prefix_space: read a text's first word as any other (`byte_level`), also while the BPE is learned.
    """
    tok = Tokenizer(models.BPE())
    if uncased:
        tok.normalizer = uncased_normalizer()
    tok.pre_tokenizer, tok.decoder = byte_level(add_prefix_space)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no unknown tokens
        min_frequency=2,
        show_progress=True,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"$A {EOS}", pair=f"$A {EOS} $B:1 {EOS}:1", special_tokens=[(EOS, eos_id)]
            ),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=None,
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, output: str | Path) -> None:
    """Saves `tokenizer.json` + `tokenizer_config.json` readable by Transformers 4 and 5."""
    tokenizer.save_pretrained(output)
    config_path = Path(output) / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # Transformers 5 writes "TokenizersBackend", unknown to 4.x
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def read_lines(paths: Iterable[str | Path]) -> Iterator[str]:
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            yield from (line.rstrip("\n") for line in f if line.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="plain-text training files, one text per line")
    parser.add_argument("--output", required=True, help="folder to write tokenizer.json and tokenizer_config.json")
    parser.add_argument("--vocab-size", type=int, default=16384)
    parser.add_argument("--model-max-length", type=int, default=512, help="the trained context, EOS included")
    parser.add_argument("--uncased", action="store_true", help="lower-case every input (as an uncased teacher)")
    parser.add_argument("--add-prefix-space", action="store_true", help="read a text's first word as any other")
    args = parser.parse_args(argv)
    if (Path(args.output) / "model.safetensors").exists():
        parser.error(
            f"{args.output} holds a model's weights: a new vocabulary would not fit them; pick another --output"
        )
    tokenizer = build_tokenizer(
        read_lines(args.files), args.vocab_size, args.model_max_length, args.uncased, args.add_prefix_space
    )
    save_tokenizer(tokenizer, args.output)
    print(f"saved a {len(tokenizer)}-token byte-level BPE tokenizer to {args.output}")


if __name__ == "__main__":
    main()
