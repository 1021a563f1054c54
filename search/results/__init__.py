"""A finished sweep's results: its trials read once (``records``), then exported (``export``,
``manifest``), reported (``report`` assembles what ``report_data`` computes and ``report_plots``
draws), ensembled (``ensemble``) and summed up in one W&B run (``wandb_summary``)."""
