"""``hpo export --push-to-hub REPO``: the exported ``best/model/`` uploaded with ``huggingface_hub``.

The token is the one ``huggingface_hub`` already finds (``HF_TOKEN`` or ``hf auth login``'s file);
hpo never asks for it, prints it or writes it anywhere. Offline or without a token the push is
refused before anything is exported, with the reason.
"""

from __future__ import annotations

from pathlib import Path

from hpo.errors import ConfigError


def check_can_push(repo: str) -> None:
    """Refuse a push that cannot work here.

    Raises:
        ConfigError: ``--push-to-hub`` with a malformed repo id, with ``HF_HUB_OFFLINE`` set, or without a token.
    """
    from huggingface_hub import constants, get_token  # only a push pays for importing the Hub client
    from huggingface_hub.utils import HFValidationError, validate_repo_id  # as above

    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise ConfigError("--push-to-hub", f"not a Hub repo id (<user or org>/<name>): {exc}", value=repo) from None
    if constants.HF_HUB_OFFLINE:
        raise ConfigError("--push-to-hub", "the Hugging Face Hub is switched off here (HF_HUB_OFFLINE is set): "
                          "export without --push-to-hub, then push from a machine with a network", value=repo)
    if get_token() is None:
        raise ConfigError("--push-to-hub", "no Hugging Face token found: run `hf auth login` or set HF_TOKEN "
                          "(hpo never stores it)", value=repo)


def push_to_hub(model_dir: Path, repo: str, private: bool) -> str:
    """Create ``repo`` if needed and upload ``model_dir``; the URL of the commit.

    Raises:
        ConfigError: the Hub refused or could not be reached (the reason from huggingface_hub).
    """
    from huggingface_hub import HfApi  # as above

    api = HfApi()
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(model_dir), repo_id=repo, commit_message="hpo export: the best trial's model")
    except Exception as exc:  # network and HTTP errors come in many types: name the repo and the reason
        raise ConfigError("--push-to-hub", f"the upload failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                          value=repo) from None
    return str(commit.commit_url if hasattr(commit, "commit_url") else commit)
