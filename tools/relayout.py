"""One-off relayout: move modules (git mv) and rewrite every import and dotted string that names them.

usage: python tools_relayout.py MAPPING.json
MAPPING: {"modules": {"classifier.old": "classifier.new", ...},
          "names": {"classifier.mod:name": "classifier.other", ...}}   (names: a split moved name -> module)
"modules" moves files; "names" only rewrites (the split itself is done by hand).
"""

import io
import json
import os
import re
import subprocess
import sys
import tokenize

ROOT = os.getcwd()  # run from the repository root
PKG = "classifier"
MARK = "classifier_NEW_"  # rewritten imports, kept from the string pass (no double mapping)


def module_path(name, package):
    rel = name.replace(".", "/")
    return rel + "/__init__.py" if package else rel + ".py"


def all_modules():
    found = {}
    for folder, _dirs, files in os.walk(os.path.join(ROOT, PKG)):
        for file in files:
            if file.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, file), ROOT)[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    found[rel[: -len(".__init__")]] = True
                else:
                    found[rel] = False
    return found  # dotted name -> is a package


MODULES = all_modules()


def load(path):
    with open(path) as f:
        spec = json.load(f)
    return spec.get("modules", {}), {tuple(k.split(":")): v for k, v in spec.get("names", {}).items()}


def map_module(name, moves):
    """New dotted name of a module (or a package prefix that moved)."""
    if name in moves:
        return moves[name]
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in moves:
            return moves[head] + "." + ".".join(parts[cut:])
    return name


def resolve(dots, rest, current):
    """Absolute module of a relative import written in module current."""
    is_pkg = MODULES.get(current, False)
    base = current.split(".") if is_pkg else current.split(".")[:-1]
    if dots > 1:
        base = base[: len(base) - (dots - 1)]
    return ".".join(base + ([rest] if rest else []))


IMPORT_FROM = re.compile(r"^([ \t]*)from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
IMPORT_PLAIN = re.compile(r"^([ \t]*)import[ \t]+([^\n]*)", re.M)


def parse_names(text):
    text = text.strip()
    if text.startswith("("):
        text = text[1:-1]
    text = re.sub(r"#[^\n]*", "", text)
    names = []
    for part in text.replace("\\\n", " ").split(","):
        part = part.strip()
        if not part:
            continue
        bits = part.split()
        names.append((bits[0], bits[2] if len(bits) == 3 else None))
    return names


def rewrite_from(match, current, new_current, moves, names_map):
    indent, dots, rest, names_text = match.groups()
    comment = ""
    if not names_text.startswith("(") and "#" in names_text:
        names_text, comment = names_text.split("#", 1)
        comment = "  #" + comment
    source = resolve(len(dots), rest, current) if dots else rest
    if not (source == PKG or source.startswith(PKG + ".")):
        return match.group(0)
    groups = {}  # target module -> [(name, alias)]
    changed = False
    for name, alias in parse_names(names_text):
        full = f"{source}.{name}"
        if full in MODULES:  # a module imported by name
            new = map_module(full, moves)
            parent, leaf = new.rsplit(".", 1)
            groups.setdefault(parent, []).append((leaf, alias or (name if leaf != name else None)))
            changed |= new != full
        else:
            target = map_module(source, moves)
            target = names_map.get((target, name), target)
            groups.setdefault(target, []).append((name, alias))
            changed |= target != source
    moved_file = current != new_current
    if not changed and not (dots and moved_file):
        return match.group(0)
    lines = []
    for target, items in groups.items():
        listed = ", ".join(f"{n} as {a}" if a and a != n else n for n, a in items)
        lines.append(f"{indent}from {target.replace(PKG, MARK, 1)} import {listed}")
    return "\n".join(lines) + comment


def rewrite_dotted(text, moves, names_map):
    def one(match):
        dotted = match.group(0)
        parts = dotted.split(".")
        for cut in range(len(parts), 1, -1):
            head = ".".join(parts[:cut])
            if head in MODULES:
                new = map_module(head, moves)
                tail = parts[cut:]
                if tail:
                    new = names_map.get((new, tail[0]), new)
                return ".".join([new] + tail)
        return dotted

    return re.sub(r"\bclassifier(?:\.\w+)+", one, text)


def rewrite_strings(source, moves, names_map):
    """Dotted names inside string literals only: `classifier` is also a variable name in the tests."""
    out = []
    last = 0
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING and "classifier." in tok.string:
            start = offsets[tok.start[0] - 1] + tok.start[1]
            end = offsets[tok.end[0] - 1] + tok.end[1]
            out.append(source[last:start])
            out.append(rewrite_dotted(tok.string, moves, names_map))
            last = end
    out.append(source[last:])
    return "".join(out)


def rewrite_plain_imports(source, moves, names_map):
    def one(match):
        indent, rest = match.groups()
        if "classifier" not in rest:
            return match.group(0)
        return indent + "import " + rewrite_dotted(rest, moves, names_map).replace(PKG + ".", MARK + ".")

    return IMPORT_PLAIN.sub(one, source)


def python_files():
    for top in (PKG, "tests", "benchmarks"):
        for folder, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for file in files:
                if file.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, file), ROOT)
    for file in ("script_modelo.py", "instalar.py"):
        yield file


def main(argv):
    moves, names_map = load(argv[1])
    texts = {}
    for rel in python_files():
        with open(os.path.join(ROOT, rel)) as f:
            source = f.read()
        current = rel[:-3].replace(os.sep, ".")
        if current.endswith(".__init__"):
            current = current[: -len(".__init__")]
        new_current = map_module(current, moves) if current.startswith(PKG) else current
        new = IMPORT_FROM.sub(lambda m, c=current, n=new_current: rewrite_from(m, c, n, moves, names_map), source)
        new = rewrite_plain_imports(new, moves, names_map)
        new = rewrite_strings(new, moves, names_map).replace(MARK, PKG)
        texts[rel] = (new_current, new, new != source)
    for old, new in moves.items():
        src = module_path(old, MODULES[old])
        dst = module_path(new, MODULES[old])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        for folder in _parents(dst):
            init = os.path.join(folder, "__init__.py")
            if not os.path.exists(init):
                with open(init, "w") as f:
                    f.write("")
        subprocess.run(["git", "mv", src, dst], check=True, cwd=ROOT)
    for rel, (new_current, text, _changed) in texts.items():
        if rel.startswith(PKG + os.sep) or rel.startswith(PKG + "/"):
            is_pkg = rel.endswith("__init__.py")
            dest = module_path(new_current, is_pkg) if new_current != PKG else rel
        else:
            dest = rel
        with open(os.path.join(ROOT, dest), "w") as f:
            f.write(text)
    for rel in (".ci/run",):
        path = os.path.join(ROOT, rel)
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(rewrite_dotted(text, moves, names_map))


def _parents(path):
    folder = os.path.dirname(path)
    chain = []
    while folder and folder != PKG:
        chain.append(folder)
        folder = os.path.dirname(folder)
    return reversed(chain)


if __name__ == "__main__":
    main(sys.argv)
