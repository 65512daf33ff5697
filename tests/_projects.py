"""Test helpers: a small Project-like object for compile tests that build their input
directly (the file-based tests use streamt.load_project), and writing a project's files."""
import os


def write_files(root, files):
    """Write ``files`` ({relative path: text}) under ``root``, making directories;
    returns ``root`` as a string."""
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return str(root)


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


def fixture_projects():
    """(directory, environment, Project) of every example and fixture project that loads,
    in each of its environments (None, dev, prod); the broken fixtures are left out.  For
    tests that hold a quick path to the general one on real projects."""
    import os
    import streamt
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for base in (os.path.join(root, "examples"), os.path.join(root, "tests", "projects")):
        for d, _dirs, files in sorted(os.walk(base)):
            if "stream_project.yml" not in files:
                continue
            for env in (None, "dev", "prod"):
                try:
                    project = streamt.load_project(d, env=env)
                except streamt.StreamtError:  # a broken fixture, or not its environment
                    continue
                yield d, env, project
