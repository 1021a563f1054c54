"""hpo: hyperparameter sweeps for fine-tuning pretrained language models.

The package root is the small base that both sides share (errors, dotted parameter paths,
option names, ranking, the sweep folder's layout); it imports neither side. The driver is
``hpo.search`` (folder ``search/``), what runs inside a trial is ``hpo.trainers`` (folder
``trainers/``), the Hydra config groups are ``hpo.hydra_conf`` (folder ``hydra_conf/``).
"""

__version__ = "0.1.0"
