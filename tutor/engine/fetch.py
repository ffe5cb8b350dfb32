"""Models into the Hugging Face cache before the room fills: sizes first, then the download.

A workshop that downloads 7B models over the venue's network loses its first hour. The
instructor fetches the presets ahead of time; `doctor` then shows which are cached.
"""

from __future__ import annotations

import fnmatch
import shutil
from dataclasses import dataclass
from pathlib import Path

from tutor.engine.errors import LabError
from tutor.engine.presets import PRESETS

WANTED = ("*.json", "*.safetensors", "tokenizer.model", "*.tiktoken", "*.txt")  # weights, config, tokenizer
HEADROOM_BYTES = 2 * 1024**3  # never fill the disk to the last byte


class FetchError(LabError):
    hint = "Check the model name and the network, or copy a filled Hugging Face cache from another machine."


@dataclass(frozen=True)
class Plan:
    repo: str
    files: tuple[str, ...]
    total_bytes: int


def hub_id(name: str) -> str:
    """A preset's hub id; any other name is taken as a hub id already."""
    preset = PRESETS.get(name)
    if preset is not None and preset.teaching:
        raise FetchError(f"'{name}' is built by the tutor itself: nothing to download", "Leave it out of the list.")
    return preset.hub_id if preset else name


def choose_files(siblings: list[tuple[str, int | None]]) -> tuple[list[str], int]:
    """The files a lab needs from a repository listing, and their total size: safetensors
    weights when the repository has them (never both formats), config and tokenizer."""
    names = [name for name, _ in siblings]
    has_safetensors = any(n.endswith(".safetensors") for n in names)
    chosen = [(n, size or 0) for n, size in siblings
              if "/" not in n and any(fnmatch.fnmatch(n, p) for p in WANTED)
              or (not has_safetensors and n.endswith(".bin") and "/" not in n)]
    return [n for n, _ in chosen], sum(size for _, size in chosen)


def plan_fetch(name: str) -> Plan:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    repo = hub_id(name)
    try:
        info = HfApi().model_info(repo, files_metadata=True)
    except GatedRepoError:
        raise FetchError(f"{repo} is gated: accept its license on its Hugging Face page, then "
                         "`hf auth login` on this machine") from None
    except RepositoryNotFoundError:
        raise FetchError(f"no model {repo} on the Hugging Face Hub (or it is private)") from None
    except Exception as exc:  # offline, DNS, proxy: all mean the hub is out of reach
        raise FetchError(f"cannot reach the Hugging Face Hub for {repo}: {type(exc).__name__}") from None
    files, total = choose_files([(s.rfilename, s.size) for s in info.siblings or []])
    if not files:
        raise FetchError(f"{repo} has no weights or config a lab could load")
    return Plan(repo, tuple(files), total)


def check_disk(plans: list[Plan], cache: Path) -> tuple[int, int]:
    """(bytes needed, bytes free); raises if the disk under the cache cannot hold them."""
    existing = next(p for p in (cache, *cache.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    needed = sum(plan.total_bytes for plan in plans)
    if needed + HEADROOM_BYTES > free:
        raise FetchError(f"the models need {needed / 1e9:.1f} GB and {existing} has {free / 1e9:.1f} GB free "
                         "(2 GB kept spare): free disk, or point HF_HOME at a larger disk")
    return needed, free


def download(plan: Plan) -> Path:
    """Download with huggingface_hub's own progress bars; files already cached are skipped."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(plan.repo, allow_patterns=list(plan.files)))
    except Exception as exc:
        raise FetchError(f"downloading {plan.repo} failed: {type(exc).__name__}: {str(exc)[:200]}") from None


def cached_presets() -> list[str]:
    """Presets whose config and weights are in the local Hugging Face cache."""
    from huggingface_hub import scan_cache_dir

    try:
        repos = {repo.repo_id: repo for repo in scan_cache_dir().repos}
    except Exception:  # no cache yet
        return []
    found = []
    for name, preset in PRESETS.items():
        repo = repos.get(preset.hub_id or "")
        if repo and any(f.file_name.endswith((".safetensors", ".bin")) for rev in repo.revisions for f in rev.files):
            found.append(name)
    return found
