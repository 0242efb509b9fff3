"""Ship an emoji-32 run as the bundled `emoji-32`, with its measured quality and licences.

    python bench/bundle_emoji.py runs/emoji-32-b

Takes the run's best checkpoint (its last when it has no best), after
`python bench/conditional.py RUN --ref stores/emoji-32 ... --record` has recorded its
`conditional_quality` and default `guidance`, keeps only what sampling needs (config.json and
the EMA weights) and writes it to src/picodiff/bundled_models/emoji-32 with, in its metadata:
the commands that reproduce it (every training run that made it, a run started with --init after
the one it continues), a summary of its quality at its default guidance (the share
of samples whose nearest training image carries the prompted name, against chance and the
real val images) and the images' licences, Twemoji's CC-BY 4.0 attribution among them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bundling import Stage, cpu_weights, stages, write_bundle

from picodiff.checkpoint import read_spec
from picodiff.sampling import resolve_checkpoint_dir

PACKAGES = (
    "emoji-datasource-twitter-16.0.0.tgz",
    "emoji-datasource-google-16.0.0.tgz",
    "lobehub-fluent-emoji-3d-1.1.0.tgz",
)
STORE = "stores/emoji-32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="an emoji-32 run folder or checkpoint")
    args = parser.parse_args()
    source = resolve_checkpoint_dir(args.run)
    metadata = read_spec(source).metadata
    made_by = stages(str(args.run), metadata, STORE, "emoji-32")
    if "conditional_quality" not in metadata or "guidance" not in metadata:
        raise SystemExit(f"{source}: run bench/conditional.py {args.run} --record first")
    measured = metadata["conditional_quality"]
    default = metadata["guidance"]["default"]
    at_default = measured[f"guidance {default:g}"]
    quality = {
        "guidance": default,
        "named": at_default["recognised"],
        "chance": measured["chance"],
        "real_named": measured["real_named"],  # the floor: held-out real emoji
        "fid_vs_training": at_default["fid"],
        "prompts": measured["prompts"],
        "n_per_prompt": measured["n_per_prompt"],
        "measure": "share of samples whose nearest training image (Inception features) "
        "carries the prompted name",
    }
    folder = write_bundle(
        source,
        "emoji-32",
        {
            **metadata,
            "description": "Colour emoji, 32x32 on white (Twemoji, Noto Emoji, Fluent Emoji 3D), "
            "text-conditional: type an emoji's name",
            "weights": cpu_weights(metadata, sum(s.record["train_seconds"] for s in made_by)),
            "stages": [{"run": s.run, **s.record} for s in made_by],
            "reproduce": reproduce(made_by),
            "quality": quality,
            "attribution": [x["attribution"] for x in metadata["licences"]],
        },
        STORE,
    )
    print(json.dumps(quality, indent=2))
    print(f"wrote {folder}")


def reproduce(made_by: list[Stage]) -> list[str]:
    """The commands that make the bundled model again."""
    run = made_by[-1].run
    return [
        "npm pack emoji-datasource-twitter@16.0.0 emoji-datasource-google@16.0.0 "
        "@lobehub/fluent-emoji-3d@1.1.0",
        f"picodiff prepare {' '.join(PACKAGES)} --out {STORE} --size 32 --skin-tones drop "
        "--drop-category Component",
        *(stage.command for stage in made_by),
        f"python bench/conditional.py {run} --ref {STORE} --prompts 100 --n 4 --guidance 3 7 "
        "--record --grid docs/emoji-prompts.png --grid-prompts 'red apple' banana grapes "
        "'slice of pizza' 'dog face' 'cat face' rocket fire",
        f"python bench/bundle_emoji.py {run}",
    ]


if __name__ == "__main__":
    main()
