"""The house's rules, read from the real package: every module in a layer, dependencies one way
(front-ends -> Tk side -> session and engine -> core -> base), no import circle, no file over 500 lines.

Imports are read from each file's syntax tree, those inside functions included: a lazy import is
still a dependency (the cli -> batch -> cli circle was one).
"""

import ast
import pkgutil
from pathlib import Path

import classifier

PACKAGE = Path(classifier.__file__).parent
MAX_LINES = 500

# Higher layers may import lower ones, never the reverse (docs/arquitectura.md).
LAYERS = {
    "app": 4,  # front-ends: command line, batch, desktop loop, terminal
    "gui": 3,  # every Tk, easygui, matplotlib and signal detail
    "engine": 2,  # the session (model loaded once) and the one path from a file to a result
    "hub": 1, "model": 1, "images": 1, "maps": 1, "output": 1, "results_log": 1, "teaching": 1,  # core
    "base": 0,  # errors, statuses, words, defaults, labels, files, results
}
ENTRY = {"classifier", "classifier.__main__"}  # the entry point starts the front-end: above every layer


def _modules():
    """Dotted name -> (path, is a package) for every module of the package, from its files."""
    found = {"classifier": (PACKAGE / "__init__.py", True)}
    for info in pkgutil.walk_packages([str(PACKAGE)], "classifier."):
        spec = info.module_finder.find_spec(info.name.rsplit(".", 1)[1])
        found[info.name] = (Path(spec.origin), info.ispkg)
    return found


MODULES = _modules()


def _imports(name):
    """The package's modules that this module imports (anywhere in it)."""
    path, is_package = MODULES[name]
    here = name.split(".") if is_package else name.split(".")[:-1]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                # `from package import module` names a module; anything else is an attribute of base.
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    return {target for target in targets if target in MODULES and target != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name):
    if name in ENTRY:
        return None
    return name.split(".")[1]


def test_every_module_lives_in_a_known_layer():
    assert sorted(name for name in MODULES if name not in ENTRY and _layer(name) not in LAYERS) == []


def test_dependencies_run_one_way():
    wrong = []
    for name, targets in GRAPH.items():
        if name in ENTRY or _layer(name) not in LAYERS:
            continue
        for target in targets:
            if target in ENTRY or LAYERS.get(_layer(target), 99) > LAYERS[_layer(name)]:
                wrong.append(f"{name} -> {target}")
    assert sorted(wrong) == []


def _cycles(graph):
    """Every strongly connected component of more than one node, or a node importing itself (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_modules():
    assert _cycles(GRAPH) == []


def test_no_import_circle_between_folders():
    """model/, hub/, images/… as wholes: a circle between two folders is one too, whatever modules carry it."""
    def folder(name):
        return ".".join(name.split(".")[:2])

    folders = {}
    for name, targets in GRAPH.items():
        if name in ENTRY:
            continue
        folders.setdefault(folder(name), set()).update(folder(target) for target in targets if target not in ENTRY)
    for name, targets in folders.items():
        targets.discard(name)
    assert _cycles(folders) == []


def test_the_checker_sees_a_circle_and_a_wrong_direction():
    """Against a reference: a made-up graph whose circle and upward import are known."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    # Imports it must find in the package: lazy, relative and `from package import module` ones.
    assert "classifier.app.cli" in GRAPH["classifier"]  # inside run()
    assert "classifier.engine.session" in GRAPH["classifier.app.batch"]
    assert "classifier.images.png" in GRAPH["classifier.images.opening"]  # from .png import …
    assert "classifier.hub.partial" in GRAPH["classifier.hub.download"]  # from classifier.hub import partial


def test_no_module_is_over_500_lines():
    long = {name: count for name, (path, _) in MODULES.items()
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
