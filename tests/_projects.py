"""Test helper: a Project-like object built with PyYAML, for the compile tests until
(and independently of) the project section's load_project."""
import glob
import os

import yaml


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


def load_yaml_project(root, env=None):
    def read(path):
        with open(path) as f:
            return yaml.safe_load(f) or {}
    proj = read(os.path.join(root, "stream_project.yml"))
    items = dict((k, list(proj.get(k) or [])) for k in ("sources", "models", "tests", "exposures"))
    for k in items:
        for path in sorted(glob.glob(os.path.join(root, k, "*.yml"))):
            items[k].extend(read(path).get(k) or [])
    runtime = proj.get("runtime") or {}
    environment = None
    if env:
        e = read(os.path.join(root, "environments", env + ".yml"))
        runtime = e["runtime"]
        info = e.get("environment") or {}
        safety = e.get("safety") or {}
        environment = {"name": env, "description": info.get("description"),
                       "protected": bool(info.get("protected")),
                       "safety": {"confirm_apply": bool(safety.get("confirm_apply",
                                                                   info.get("protected"))),
                                  "allow_destructive": bool(safety.get("allow_destructive", True)),
                                  "require_signature": bool(safety.get("require_signature"))}}
    return FakeProject(name=proj["project"]["name"], env=env or "default", runtime=runtime,
                       sources=items["sources"], models=items["models"], tests=items["tests"],
                       defaults=proj.get("defaults"), environment=environment)
