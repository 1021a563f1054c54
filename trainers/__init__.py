"""What runs inside a trial (``hpo.trainers``); it never imports the driver (``hpo.search``).

``data`` loads and prepares rows, ``models`` builds and adapts them, ``evaluation`` scores them,
``tasks`` ties those together per task, ``engine`` trains, and ``runs`` are the entry points: a Ray
trial, a data-parallel trial, cross-validation and ``hpo train``.
"""
