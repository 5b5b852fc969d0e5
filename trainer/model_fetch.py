"""`python -m trainer.model_fetch s3://BUCKET/models/NAME/ DEST`: copy a model export from S3 to
a local directory, for a model server to load (components/serving.py runs it as the init
container of a vLLM pod whose model is in the artifacts bucket).

The copy is one whole export even while a newer one uploads to the same prefix: the files and
versions its manifest lists, or, for a prefix without one, every object listed under it (with a
line saying so); trainer/s3_models.py has the protocol. Each file is written to `<name>.part`
and renamed when whole, so a copy cut short leaves nothing that looks complete. The copy is a
model once `config.json` and at least one `*.safetensors` are there: anything else (a wrong
prefix, the trainer's own `model.pt`) ends with exit 2 and what is missing, as does a listed
version that is gone or an S3 refusal (no such bucket, access denied): the pod then shows
Init:Error with the reason in the container's log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import s3_models, s3_store
from .exit_codes import EXIT_CONFIG

REQUIRED = "config.json"
WEIGHTS = ".safetensors"


class FetchError(Exception):
    """What is wrong with the prefix, for the log; exit 2."""


def _say(line: str) -> None:
    print(f"model_fetch: {line}", file=sys.stderr)


def fetch(url: str, dest: str | Path, s3=None) -> list[Path]:
    """The export at `url` copied below `dest` by its paths under the prefix; returns the local
    files."""
    s3 = s3 or s3_store.client()
    try:
        export = s3_models.listing(url, s3, _say)
    except s3_models.ExportError as err:
        raise FetchError(str(err)) from None
    names = set(export.files)
    missing = [
        what
        for what, ok in (
            (REQUIRED, REQUIRED in names),
            (f"*{WEIGHTS}", any(n.endswith(WEIGHTS) for n in names)),
        )
        if not ok
    ]
    if missing:
        found = ", ".join(sorted(names)[:5]) or "no objects"
        raise FetchError(
            f"{url}: not a Hugging Face model export: no {' and no '.join(missing)} "
            f"(found {found}); export one with `python -m trainer.export` or "
            "--checkpoint.export, and wait for its upload to finish"
        )
    try:
        return s3_models.copy(s3, url, export, Path(dest))
    except s3_models.ExportError as err:
        raise FetchError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.model_fetch", description=__doc__)
    parser.add_argument("url", help="s3://BUCKET/models/NAME/")
    parser.add_argument("dest", help="the local directory to copy into")
    args = parser.parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        files = fetch(args.url, args.dest)
    except (FetchError, ValueError) as err:
        print(f"model_fetch: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "?")
        print(f"model_fetch: {args.url}: S3 refused: {code}: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except BotoCoreError as err:
        print(f"model_fetch: {args.url}: {err}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in files)
    print(f"model_fetch: {len(files)} files, {size / 2**30:.2f} GiB in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
