"""Test helper: a small Project-like object for compile tests that build their input
directly (the file-based tests use streamt.load_project)."""


class FakeProject(object):
    def __init__(self, name="p", env="dev", runtime=None, sources=(), models=(), tests=(),
                 defaults=None, environment=None):
        self.name, self.env = name, env
        self.runtime = runtime if runtime is not None else {
            "kafka": {"bootstrap_servers": "k:9092"}, "flink": {"default": "local"}}
        self.sources, self.models, self.tests = list(sources), list(models), list(tests)
        self.exposures = []
        self.defaults = defaults or {}
        self.rules = {}
        self.environment = environment or {
            "name": env, "description": None, "protected": False,
            "safety": {"confirm_apply": False, "allow_destructive": True,
                       "require_signature": False}}
        self.variables = {}
