"""TEMPORARY stand-in for the YAML section (branch `yaml`) until it is merged:
installs ``streamt.yaml_load_located`` built on PyYAML's composer.  Tests only."""
import streamt

if not hasattr(streamt, "yaml_load_located"):
    import yaml

    class YamlMap(dict):
        def key_loc(self, key):
            return self._key_locs.get(key, self.loc)

    class YamlSeq(list):
        def item_loc(self, i):
            return self._item_locs[i] if 0 <= i < len(self._item_locs) else self.loc

    class YamlError(streamt.ProjectError):
        pass

    def _loc(node, name):
        return streamt.Location(name, node.start_mark.line + 1, node.start_mark.column + 1)

    def _build(node, name, constructor):
        if isinstance(node, yaml.MappingNode):
            m = YamlMap()
            m.loc, m._key_locs = _loc(node, name), {}
            for k, v in node.value:
                key = constructor.construct_object(k, deep=True)
                m[key] = _build(v, name, constructor)
                m._key_locs[key] = _loc(k, name)
            return m
        if isinstance(node, yaml.SequenceNode):
            s = YamlSeq(_build(v, name, constructor) for v in node.value)
            s.loc, s._item_locs = _loc(node, name), [_loc(v, name) for v in node.value]
            return s
        return constructor.construct_object(node, deep=True)

    def yaml_load_located(text, source_name=None):
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                return None if node is None else _build(node, source_name, loader)
            finally:
                loader.dispose()
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            loc = streamt.Location(source_name, mark.line + 1, mark.column + 1) if mark else None
            raise YamlError("YAML error: %s" % getattr(e, "problem", e), location=loc)

    streamt.yaml_load_located = yaml_load_located
    streamt.YamlError = YamlError
