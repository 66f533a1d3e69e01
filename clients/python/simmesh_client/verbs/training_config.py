"""The training-config flags `simctl tasks create` and `simctl train` share."""

from __future__ import annotations

import argparse

from simmesh_client.catalog_training import BACKBONE
from simmesh_client.enums import short_names
from simmesh_client.verbs.common import enum_arg, positive_int
from simmesh_proto.v1 import catalog_pb2


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training config (unset flags keep the task's or the trainer's default)")
    group.add_argument("--backbone", type=enum_arg(*BACKBONE), help=", ".join(short_names(*BACKBONE)))
    group.add_argument(
        "--backbone-model",
        metavar="MODEL",
        help="for an imported backbone: models/{m} or models/{m}/versions/{n} (generic: models/generic)",
    )
    group.add_argument(
        "--tune-last-block",
        action="store_true",
        default=None,
        help="generic backbone: also train the trunk's last block (slower)",
    )
    group.add_argument("--epochs", type=positive_int, metavar="N")
    group.add_argument("--dimension", type=positive_int, metavar="N", help="embedding length (default 128)")
    group.add_argument("--batch-size", type=positive_int, metavar="N")
    group.add_argument("--learning-rate", type=float, metavar="LR")
    group.add_argument("--input-size", type=positive_int, metavar="PIXELS", help="compact CNN input side")
    group.add_argument(
        "--parent-weight", type=float, metavar="W", help="weight of images that only share a parent group, 0..1"
    )
    group.add_argument("--augment", action="store_true", default=None, help="augment training images")
    group.add_argument("--seed", type=int)


def training_config(args: argparse.Namespace) -> catalog_pb2.TrainingConfig:
    model = args.backbone_model or ""
    if model and not model.startswith("models/"):
        model = f"models/{model}"
    return catalog_pb2.TrainingConfig(
        backbone=args.backbone or catalog_pb2.BACKBONE_UNSPECIFIED,
        backbone_model=model,
        epochs=args.epochs or 0,
        embedding_dimension=args.dimension or 0,
        batch_size=args.batch_size or 0,
        learning_rate=args.learning_rate or 0.0,
        input_size=args.input_size or 0,
        parent_weight=args.parent_weight or 0.0,
        augment=bool(args.augment),
        seed=args.seed or 0,
        tune_last_block=bool(args.tune_last_block),
    )
