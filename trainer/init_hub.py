"""A model repository of the Hugging Face Hub fetched into a local directory: the files a
trainer loads (config, safetensors weights, tokenizer), nothing else, all from one commit.

Checked against huggingface_hub 2.4.0 (the pin in trainer/requirements.txt):
- `HfApi.model_info(files_metadata=True)` (hf_api.py) is GET /api/models/{repo}/revision/{rev}:
  the commit `sha` the revision resolves to, and `siblings` with each file's size. The hub
  answers it for a gated repo without a token too; the gate is on the files.
- `hf_hub_download(local_dir=..., revision=<commit>)` (file_download.py
  _hf_hub_download_to_local_dir) is a HEAD then a GET of /{repo}/resolve/{commit}/{file}; it
  resumes an `.incomplete` file left under local_dir/.cache/huggingface, and a file already
  there with metadata for that commit costs no request.
- Errors (errors.py; utils/_http.py hf_raise_for_status maps the hub's X-Error-Code header):
  GatedRepoError (a RepositoryNotFoundError) for a gated file: 401 without a token, 403 with a
  token not on the repo's authorized list; a token the hub does not know is a plain
  HfHubHTTPError 401 ("Invalid credentials in Authorization header"); RepositoryNotFoundError
  and RevisionNotFoundError for a missing repo or revision. A 401/403 that is no GatedRepoError
  on the HEAD comes back wrapped in LocalEntryNotFoundError (file_download.py
  _raise_on_head_call_error), so the cause chain is read.
Those are permanent: a ConfigError, so the trainer exits 2. Anything else (connection errors,
timeouts, 5xx, 429) propagates as it is and stays retryable: the restarted pod continues the
download.

`token=None` is sent as `token=False`: huggingface_hub would otherwise read HF_TOKEN or a saved
login by itself, and the job's token is the caller's to pass (env HF_TOKEN from the stack secret
`hfToken`, components/pod_spec.py training_env).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from .config_sections import ConfigError
from .download_progress import DownloadProgress
from .permanent_errors import chain

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
# Taken when the repo has them (generation_config.json: the model's sampling defaults).
OPTIONAL = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
NO_TOKEN = "no token: set the stack secret hfToken and hfToken: true on the job"


def refused(repo_id: str) -> str:
    return f"token refused by the hub for {repo_id}"


def explain(exc: BaseException, repo_id: str, revision: str, token: str | None) -> str | None:
    """Why the hub refused for good, or None for an error a retry can get past."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    for e in chain(exc):
        if isinstance(e, RevisionNotFoundError):
            return f"revision {revision!r} not found in {repo_id}"
        if isinstance(e, GatedRepoError):  # before RepositoryNotFoundError: it is one
            if not token:
                return f"{repo_id} is gated; {NO_TOKEN}"
            return f"{refused(repo_id)} (a gated repo: the token's account must be granted access)"
        if isinstance(e, RepositoryNotFoundError):
            private = "or private and the token may not read it" if token else NO_TOKEN
            return f"{repo_id} not found on the hub ({private})"
        if isinstance(e, HfHubHTTPError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status in (401, 403):
                return refused(repo_id) if token else NO_TOKEN
    return None


def weight_files(available: dict[str, int | None], index: dict | None) -> list[str]:
    """The safetensors shards the index names, or the single file."""
    if index is not None:
        return sorted(set(index["weight_map"].values()))
    return [WEIGHTS] if WEIGHTS in available else []


def fetch(
    repo_id: str,
    revision: str,
    dest: Path,
    progress: DownloadProgress,
    *,
    token: str | None,
    endpoint: str | None = None,
) -> dict:
    """The model's files into `dest`; returns {"commit": <sha>} for the completion marker.
    `endpoint` None: huggingface_hub's default (env HF_ENDPOINT, else the public hub)."""
    try:
        return _fetch(repo_id, revision, dest, progress, token=token or None, endpoint=endpoint)
    except ConfigError:
        raise
    except Exception as e:
        why = explain(e, repo_id, revision, token or None)
        if why is None:
            raise
        raise ConfigError([f"model.init_from={progress.label}: {why}"]) from e


def _fetch(
    repo_id: str,
    revision: str,
    dest: Path,
    progress: DownloadProgress,
    *,
    token: str | None,
    endpoint: str | None,
) -> dict:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.utils import disable_progress_bars

    auth: str | bool = token or False
    with disable_progress_bars("huggingface_hub"):  # our lines instead of tqdm's
        info = HfApi(endpoint=endpoint).model_info(
            repo_id, revision=revision, files_metadata=True, token=auth
        )
        sizes = {s.rfilename: s.size for s in info.siblings or []}
        if CONFIG not in sizes or (WEIGHTS not in sizes and WEIGHTS_INDEX not in sizes):
            raise ConfigError(
                [
                    f"model.init_from={progress.label}: not a safetensors model at {info.sha}: "
                    f"expected {CONFIG} and {WEIGHTS} or {WEIGHTS_INDEX}; the repo has "
                    f"{', '.join(sorted(sizes)[:20]) or 'no files'}"
                ]
            )

        def get(name: str) -> Path:
            return Path(
                hf_hub_download(
                    repo_id,
                    name,
                    revision=info.sha,  # every file from the one commit the revision named
                    local_dir=dest,
                    token=auth,
                    endpoint=endpoint,
                )
            )

        # The index first (small): it names the shards. Its second get below costs no request.
        index = json.loads(get(WEIGHTS_INDEX).read_text()) if WEIGHTS_INDEX in sizes else None
        shards = weight_files(sizes, index)
        absent = [s for s in shards if s not in sizes]
        if absent:
            raise ConfigError(
                [
                    f"model.init_from={progress.label}: {WEIGHTS_INDEX} names shards the repo "
                    f"does not have at {info.sha}: {', '.join(absent)}"
                ]
            )
        names = [CONFIG, *(f for f in OPTIONAL if f in sizes)]
        names += [WEIGHTS_INDEX] if index is not None else []
        names += shards
        progress.plan({f: sizes[f] for f in names})
        for name in names:
            progress.file(name, sizes[name])
            get(name)
    _prune(dest, set(names))
    # hf_hub_download's bookkeeping for resuming (local_dir/.cache/huggingface): not part of the
    # model directory once every file is whole.
    shutil.rmtree(dest / ".cache" / "huggingface", ignore_errors=True)
    with contextlib.suppress(OSError):
        (dest / ".cache").rmdir()
    return {"commit": info.sha, "revision": revision}


def _prune(dest: Path, keep: set[str]) -> None:
    """Files an earlier, cut-short attempt left for another commit of the same branch."""
    for path in [p for p in dest.rglob("*") if p.is_file()]:
        rel = path.relative_to(dest).as_posix()
        if rel not in keep and not rel.startswith(".cache/"):
            path.unlink()
