"""The layout of streamt.py, kept true: one module in two parts (docs/internals.md).

Each rule is a function of the module's text that returns the problems it finds, so the
same functions are run on the real file (no problem allowed) and on copies with a defect
planted (the problem must be found): a rule that cannot fail is not a rule.  Standard
library only, a few seconds.
"""
import ast
import io
import os
import re
import tokenize

import pytest

import streamt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "streamt.py"), encoding="utf-8") as _f:
    SOURCE = _f.read()

PART_ONE = ["Canonical JSON", "YAML: full loader", "YAML", "Signatures", "Tar & gzip",
            "Git reader", "HTTP client", "Kafka wire client",
            "Kafka wire client: reading"]
PART_TWO = ["Secrets & variables", "Project", "SQL", "SQL analysis", "Schemas", "Validate",
            "Compile", "Artifact", "Targets", "Plan & deploy", "Docs page", "CLI"]
SECTIONS = ["Errors & output"] + PART_ONE + PART_TWO
# sections that are one unit split for length: they may share private names
UNITS = {"YAML: full loader": "YAML", "SQL analysis": "SQL",
         "Kafka wire client: reading": "Kafka wire client"}
MAX_TOP_LEVEL_NAMES = 250
MAX_SECTION_LINES = 1700


class Module(object):
    """The sections of a module text: banner titles, line ranges, top-level statements
    and the names each binds and reads."""

    BANNER = re.compile(r"^# (.+?) #{3,}$")

    def __init__(self, text):
        self.text = text
        self.lines = text.split("\n")
        self.tree = ast.parse(text)
        self.starts = []  # (first line, title)
        for i, line in enumerate(self.lines):
            m = self.BANNER.match(line)
            if m and i > 0 and self.lines[i - 1].startswith("#" * 20):
                self.starts.append((i + 1, m.group(1)))
        self.titles = [t for _, t in self.starts]
        self.defs = {}        # name -> [(section, line)]
        self.statements = []  # (section, node, names bound)
        for node in self.tree.body:
            names = self.bound(node)
            sec = self.section_of(node.lineno)
            self.statements.append((sec, node, names))
            for n in names:
                self.defs.setdefault(n, []).append((sec, node.lineno))

    def section_of(self, line):
        found = "prelude"
        for start, title in self.starts:
            if start <= line:
                found = title
        return found

    @staticmethod
    def bound(node):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return [node.name]
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.For, ast.With)):
            targets = [node.target] if isinstance(node, ast.For) else [
                i.optional_vars for i in node.items if i.optional_vars is not None]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            return [(a.asname or a.name).split(".")[0] for a in node.names]
        out = []
        for t in targets:
            out += [x.id for x in ast.walk(t) if isinstance(x, ast.Name)]
        return [n for n in out if n != "__all__"]

    @staticmethod
    def reads(node):
        return set(x.id for x in ast.walk(node)
                   if isinstance(x, ast.Name) and isinstance(x.ctx, ast.Load))

    def unit(self, section):
        return UNITS.get(section, section)

    def home(self, name):
        return self.defs[name][0][0]

    def public_names(self, section):
        out = []
        for sec, node, names in self.statements:
            if sec != section:
                continue
            for n in names:
                if n.startswith("_") or n in out:
                    continue
                if section == "prelude" and not isinstance(node, ast.ClassDef):
                    continue  # imports and lazily imported modules
                out.append(n)
        return out

    def all_of(self, section):
        """The names this section adds to __all__."""
        out = []
        for sec, node, _ in self.statements:
            if sec != section or not isinstance(node, (ast.Assign, ast.AugAssign)):
                continue
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "__all__":
                out += [x.value for x in ast.walk(node.value)
                        if isinstance(x, ast.Constant) and isinstance(x.value, str)]
        return out

    def toc(self):
        """{section: [public names]} from the module docstring's table of contents."""
        doc = ast.get_docstring(self.tree) or ""
        out, current = {}, None
        for line in doc.split("\n"):
            m = re.match(r"^    (\S.*?) -- ", line)
            if m:
                current = m.group(1)
                out[current] = []
            elif current and line.startswith("        ") and line.strip():
                out[current] += [n.strip() for n in line.split(",") if n.strip()]
            elif not line.strip():
                continue
            else:
                current = None
        return out


# -- the rules ---------------------------------------------------------------------

def order_problems(mod):
    if mod.titles != SECTIONS:
        return ["sections are %s, not %s" % (mod.titles, SECTIONS)]
    probs = []
    for part, first in (("PART I", PART_ONE[0]), ("PART II", PART_TWO[0])):
        line = dict((t, s) for s, t in mod.starts)[first]
        above = "\n".join(mod.lines[max(0, line - 20):line])
        if "## %s -- " % part not in above:
            probs.append("no %s banner above %s" % (part, first))
    return probs


def double_bindings(mod):
    return ["%s bound %d times (lines %s)" % (n, len(w), ", ".join(str(l) for _, l in w))
            for n, w in sorted(mod.defs.items()) if len(w) > 1]


def forward_uses(mod):
    """A section reads only names of the sections above it (and its own)."""
    rank = dict((t, i) for i, t in enumerate(["prelude"] + mod.titles))
    probs = []
    for sec, node, names in mod.statements:
        for n in sorted(mod.reads(node)):
            if n in mod.defs and n not in names and rank[mod.home(n)] > rank[sec]:
                probs.append("%s (%s, line %d) uses %s of the later section %s"
                             % (names[0] if names else "a statement", sec, node.lineno, n,
                                mod.home(n)))
    return probs


def part_one_uses(mod):
    """Part I sections use only the prelude, the errors and themselves."""
    allowed = ("prelude", "Errors & output")
    probs = []
    for sec, node, names in mod.statements:
        if sec not in PART_ONE:
            continue
        for n in sorted(mod.reads(node)):
            if n in mod.defs and n not in names:
                home = mod.home(n)
                if home not in allowed and mod.unit(home) != mod.unit(sec):
                    probs.append("%s (%s) uses %s of %s" % (names[0] if names else "?", sec,
                                                           n, home))
    return probs


def private_crossings(mod):
    """A section's private (underscore) names are its own."""
    probs = []
    for sec, node, names in mod.statements:
        for n in sorted(mod.reads(node)):
            if (n.startswith("_") and not n.startswith("__") and n in mod.defs and
                    n not in names):
                home = mod.home(n)
                if home != "prelude" and mod.unit(home) != mod.unit(sec):
                    probs.append("%s (%s) uses %s, private to %s"
                                 % (names[0] if names else "?", sec, n, home))
    return probs


def toc_problems(mod):
    toc = mod.toc()
    probs = []
    for sec in ["prelude"] + mod.titles:
        key = "Prelude" if sec == "prelude" else sec
        if key not in toc:
            probs.append("the table of contents has no line for %s" % key)
            continue
        public = mod.public_names(sec)
        if sorted(toc[key]) != sorted(public):
            probs.append("table of contents of %s lists %s; the section defines %s"
                         % (key, sorted(toc[key]), sorted(public)))
        if sorted(mod.all_of(sec)) != sorted(public):
            probs.append("__all__ of %s has %s; the section defines %s"
                         % (key, sorted(mod.all_of(sec)), sorted(public)))
    return probs


def globals_outside_prelude(mod):
    return ["globals() at line %d (%s)" % (x.lineno, sec)
            for sec, node, _ in mod.statements if sec != "prelude"
            for x in ast.walk(node)
            if isinstance(x, ast.Call) and isinstance(x.func, ast.Name) and x.func.id == "globals"]


def backslash_continuations(mod):
    in_string = set()
    for tok in tokenize.generate_tokens(io.StringIO(mod.text).readline):
        if tok.type == tokenize.STRING and tok.start[0] != tok.end[0]:
            in_string.update(range(tok.start[0], tok.end[0]))
    return ["a backslash continuation at line %d" % (i + 1)
            for i, line in enumerate(mod.lines)
            if line.endswith("\\") and (i + 1) not in in_string
            and not line.lstrip().startswith("#")]


def size_problems(mod):
    probs = []
    if len(mod.defs) > MAX_TOP_LEVEL_NAMES:
        probs.append("%d top-level names (at most %d: group a family into a class)"
                     % (len(mod.defs), MAX_TOP_LEVEL_NAMES))
    ends = [s for s, _ in mod.starts[1:]] + [len(mod.lines)]
    for (start, title), end in zip(mod.starts, ends):
        if end - start > MAX_SECTION_LINES:
            probs.append("section %s has %d lines (at most %d)" % (title, end - start,
                                                                  MAX_SECTION_LINES))
    return probs


def seam_problems(mod):
    """One of each seam: string.Template only in Variables, one secret-key rule, every
    bounded cache a Memo, every fast path a FastPaths switch."""
    probs = []
    for sec, node, names in mod.statements:
        src = "\n".join(mod.lines[node.lineno - 1:node.end_lineno])
        if "string.Template" in src and names != ["Variables"]:
            probs.append("%s uses string.Template outside Variables" % names)
        if re.search(r"passw(or)?d\|", src) and names != ["SecretPolicy"]:
            probs.append("%s has its own secret-key pattern" % names)
        for n in names:
            if n.endswith("_CACHE") and not (isinstance(node, ast.Assign) and isinstance(
                    node.value, ast.Call) and getattr(node.value.func, "id", "") == "Memo"):
                probs.append("%s is a cache but not a Memo" % n)
            if re.match(r"_?[A-Z_]*FAST$", n):
                probs.append("%s is a fast-path switch outside FastPaths" % n)
    return probs


RULES = [order_problems, double_bindings, forward_uses, part_one_uses, private_crossings,
         toc_problems, globals_outside_prelude, backslash_continuations, size_problems,
         seam_problems]

MODULE = Module(SOURCE)


@pytest.mark.parametrize("rule", RULES, ids=[r.__name__ for r in RULES])
def test_streamt_keeps_its_layout(rule):
    assert rule(MODULE) == []


# -- each rule finds what it is there to find -----------------------------------------

def _planted(old, new, count=1):
    assert old in SOURCE, old
    return Module(SOURCE.replace(old, new, count))


def _section_body(title):
    """A line inside section ``title`` (after its banner), to plant code at."""
    start = dict((t, s) for s, t in MODULE.starts)[title]
    return "\n".join(MODULE.lines[start - 1:start + 1])


def _plant_in(title, code):
    anchor = _section_body(title)
    return _planted(anchor, anchor + "\n" + code + "\n")


def test_a_second_binding_is_found():
    mod = _plant_in("CLI", "def canonical_json(obj):\n    return ''\n")
    assert any(p.startswith("canonical_json bound 2 times") for p in double_bindings(mod))


def test_a_shadowing_loop_variable_is_found():
    mod = _plant_in("Artifact", "for render_artifact in ():\n    pass\n")
    assert any(p.startswith("render_artifact bound 2 times") for p in double_bindings(mod))


def test_a_use_of_a_later_section_is_found():
    mod = _plant_in("Project", "def _early():\n    return compile_project\n")
    assert any("uses compile_project of the later section Compile" in p
               for p in forward_uses(mod))


def test_part_one_using_the_pipeline_is_found():
    mod = _plant_in("HTTP client", "def _peek():\n    return load_project\n")
    assert any("uses load_project of Project" in p for p in part_one_uses(mod))


def test_a_private_name_of_another_section_is_found():
    private = next(n for n, w in sorted(MODULE.defs.items())
                   if n.startswith("_") and not n.startswith("__") and w[0][0] == "Compile")
    mod = _plant_in("CLI", "def _borrow():\n    return %s\n" % private)
    assert any("uses %s, private to Compile" % private in p for p in private_crossings(mod))


def test_a_stale_table_of_contents_is_found():
    mod = _plant_in("Schemas", "def schema_fingerprint(text):\n    return text\n")
    probs = toc_problems(mod)
    assert any(p.startswith("table of contents of Schemas") for p in probs)
    assert any(p.startswith("__all__ of Schemas") for p in probs)


def test_a_renamed_banner_is_found():
    mod = _planted("# Git reader ###", "# Git ###")
    assert order_problems(mod) and toc_problems(mod)


def test_globals_and_backslashes_are_found():
    mod = _plant_in("Targets", "def _sneaky():\n    return globals().get('x', 1 + \\\n 2)\n")
    assert globals_outside_prelude(mod) and backslash_continuations(mod)


def test_a_cache_of_its_own_and_a_switch_of_its_own_are_found():
    mod = _plant_in("Validate", "_NAME_CACHE = {}\n_CHECKS_FAST = True\n")
    probs = seam_problems(mod)
    assert "_NAME_CACHE is a cache but not a Memo" in probs
    assert "_CHECKS_FAST is a fast-path switch outside FastPaths" in probs


def test_a_second_secret_rule_is_found():
    mod = _plant_in("Targets", "_SECRETISH = ('(password|token)', 1)\n")
    assert any("own secret-key pattern" in p for p in seam_problems(mod))


# -- the seams behave as one ----------------------------------------------------------

def test_every_fast_path_switches_and_comes_back():
    names = sorted(n for n, v in vars(streamt.FastPaths).items() if isinstance(v, bool))
    assert names == ["artifact", "compile", "validate", "yaml_lines", "yaml_scanner"]
    for n in names:
        with streamt.FastPaths.off(n):
            assert getattr(streamt.FastPaths, n) is False
        assert getattr(streamt.FastPaths, n) is True
        assert "FastPaths.%s" % n in SOURCE, "no code reads the switch %s" % n
    with pytest.raises(AttributeError):
        streamt.FastPaths.off("no_such_path")


def test_memo_forgets_the_oldest_first():
    memo = streamt.Memo(3)
    for i in range(5):
        memo.put(i, str(i))
    assert len(memo) == 3 and memo.get(0) is None and memo.get(1) is None
    assert [memo.get(i) for i in (2, 3, 4)] == ["2", "3", "4"]
    memo.put(3, "again")            # an update keeps the size
    assert len(memo) == 3 and memo.get(3) == "again"
