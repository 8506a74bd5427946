from tests.playback.stack import stack  # noqa: F401  (the fixture, for every module here)
