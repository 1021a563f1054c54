"""Running a sweep on Ray Tune: Ray start, callbacks, resume and extend, storage."""
