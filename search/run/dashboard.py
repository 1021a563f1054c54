"""``hpo dashboard <sweep dir>``: optuna-dashboard on the study the sweep records as it runs (``study_journal``)."""

from __future__ import annotations

from pathlib import Path

from hpo.errors import ConfigError
from hpo.layout import STUDY_JOURNAL, load_sweep_config


def serve(sweep_dir: str | Path, host: str, port: int) -> None:
    """Serve the dashboard until interrupted; it reads the journal afresh on each request, so a running sweep's
    new trials and evaluations appear as they come.

    Raises:
        ConfigError: not a sweep folder, or one without a journal (written before hpo recorded its study).
    """
    from optuna_dashboard import run_server  # its web server: only `hpo dashboard` pays for importing it

    from hpo.search.run.study_journal import journal_storage  # Ray's Callback class: after the folder check

    folder = Path(sweep_dir).expanduser().resolve()
    load_sweep_config(folder)  # a clear error for a folder that is not a sweep
    if not (folder / STUDY_JOURNAL).is_file():
        raise ConfigError("sweep_dir", f"no {STUDY_JOURNAL} in this sweep folder: it ran before hpo recorded its study; "
                          "`hpo report` draws its history and importance", value=str(folder))
    print(f"hpo: optuna-dashboard on {folder / STUDY_JOURNAL} at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    run_server(journal_storage(folder), host=host, port=port)
