#!/usr/bin/env python3
"""Checks the module layering of src/ against docs/architecture.md.

The allowed-dependency table is written once, in docs/architecture.md (the rows between the
`<!-- modules: begin -->` / `<!-- modules: end -->` markers; src/CMakeLists.txt builds its targets
from the same rows), and so is the table of public headers and the module that implements each
(`<!-- public headers: begin/end -->`). This script refuses:
  - an #include of another module's header ("engine/engine.h") that the including module's row
    does not list under "may use";
  - an #include of a public header (include/openwfp/X.h) implemented by a module it may not use,
    also from another public header (X.h of module A includes Y.h of module B: A must use B);
  - a WDK header (include/openwfp/km) included by a module whose row says "km headers: no";
  - a folder under src/ that has no row, a row that uses an unknown module, a cycle in the table;
  - a file under src/ longer than --max-lines lines (default 600).
Prints one line per violation (file:line: what) and exits 1 when there is any, else prints a
one-line summary and exits 0.

  python3 scripts/check-layering.py [--root DIR] [--max-lines N]
"""
import argparse
import pathlib
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def read_tables(doc_path):
    text = doc_path.read_text()

    def rows(name):
        m = re.search(r"<!-- %s: begin -->(.*?)<!-- %s: end -->" % (name, name), text, re.S)
        if not m:
            raise SystemExit(f"check-layering: {doc_path}: no '<!-- {name}: begin -->' table")
        out = []
        for line in m.group(1).splitlines():
            line = line.strip()
            if not line.startswith("|") or set(line) <= set("|-: "):
                continue
            cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
            if cells[0].lower() in ("module", "public header"):
                continue
            out.append(cells)
        return out

    modules = {}
    for cells in rows("modules"):
        if len(cells) < 3:
            raise SystemExit(f"check-layering: {doc_path}: module row needs 3 cells: {cells}")
        name, uses, km = cells[0], cells[1], cells[2].lower()
        used = [u.strip() for u in uses.split(",") if u.strip() and u.strip() != "-"]
        modules[name] = {"uses": set(used), "km": km == "yes"}
    headers = {}
    for cells in rows("public headers"):
        headers[cells[0]] = cells[1]
    return modules, headers


def closure(modules):
    """Module -> every module reachable through 'may use'; raises on a cycle."""
    done, result = set(), {}

    def visit(m, stack):
        if m in stack:
            raise SystemExit("check-layering: cycle in the allowed-dependency table: " + " -> ".join(stack + [m]))
        if m in done:
            return result[m]
        reach = set()
        for u in modules[m]["uses"]:
            reach |= {u} | visit(u, stack + [m])
        done.add(m)
        result[m] = reach
        return reach

    for m in modules:
        visit(m, [])
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parent.parent))
    ap.add_argument("--max-lines", type=int, default=600)
    args = ap.parse_args()
    root = pathlib.Path(args.root)
    modules, headers = read_tables(root / "docs" / "architecture.md")
    problems = []
    for m, row in modules.items():
        for u in row["uses"]:
            if u not in modules:
                problems.append(f"docs/architecture.md: module {m} uses unknown module {u}")
    for h, owner in headers.items():
        if owner != "any" and owner not in modules:
            problems.append(f"docs/architecture.md: public header {h} owned by unknown module {owner}")
    if problems:
        print("\n".join(problems))
        return 1
    closure(modules)

    km_dir = root / "include" / "openwfp" / "km"
    km_headers = {p.name for p in km_dir.glob("*.h")} if km_dir.is_dir() else set()
    src = root / "src"
    checked = 0
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        m = folder.name
        if m not in modules:
            problems.append(f"src/{m}/: module has no row in docs/architecture.md's module table")
            continue
        allowed = modules[m]["uses"] | {m}
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".h", ".hpp", ".c", ".cc", ".cpp"):
                continue
            checked += 1
            rel = path.relative_to(root)
            lines = path.read_text(errors="replace").splitlines()
            if len(lines) > args.max_lines:
                problems.append(f"{rel}: {len(lines)} lines (at most {args.max_lines} under src/)")
            for no, line in enumerate(lines, 1):
                inc = INCLUDE_RE.match(line)
                if not inc:
                    continue
                name = inc.group(2)
                quoted = inc.group(1) == '"'
                first = name.split("/", 1)[0]
                if name.startswith("openwfp/km/") or ("/" not in name and name in km_headers):
                    if not modules[m]["km"]:
                        problems.append(f"{rel}:{no}: {m} may not include the WDK header {name} (only modules with km headers)")
                elif name.startswith("openwfp/"):
                    owner = headers.get(name)
                    if owner is None:
                        problems.append(f"{rel}:{no}: {name} is not in docs/architecture.md's public header table")
                    elif owner != "any" and owner not in allowed:
                        problems.append(f"{rel}:{no}: {m} may not include {name} (implemented by {owner}; "
                                        f"{m} may use: {', '.join(sorted(modules[m]['uses'])) or 'nothing'})")
                elif ("/" in name and first in modules and first not in allowed and
                      (quoted or (root / "src" / name).exists())):
                    # <linux/io_uring.h> is the kernel's header (no src/linux/io_uring.h), while
                    # "linux/performer.h" and <engine/engine.h> are the modules'.
                    problems.append(f"{rel}:{no}: {m} may not include {name} "
                                    f"({m} may use: {', '.join(sorted(modules[m]['uses'])) or 'nothing'})")
    # A public header may include only public headers of modules its own module may use.
    for path in sorted((root / "include" / "openwfp").glob("*.h")):
        name = "openwfp/" + path.name
        owner = headers.get(name)
        if owner is None:
            continue  # reported where it is included; an unused public header is no violation
        checked += 1
        allowed = {owner} | (modules[owner]["uses"] if owner in modules else set())
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            inc = INCLUDE_RE.match(line)
            if not inc or not inc.group(2).startswith("openwfp/") or inc.group(2).startswith("openwfp/km/"):
                continue
            other = headers.get(inc.group(2))
            if other is None:
                problems.append(f"{path.relative_to(root)}:{no}: {inc.group(2)} is not in docs/architecture.md's public header table")
            elif owner != "any" and other != "any" and other not in allowed:
                problems.append(f"{path.relative_to(root)}:{no}: {name} ({owner}) may not include {inc.group(2)} "
                                f"(implemented by {other})")
    if problems:
        print("\n".join(problems))
        print(f"check-layering: {len(problems)} violation(s) in {checked} files")
        return 1
    print(f"check-layering: {checked} files in {len(modules)} modules follow docs/architecture.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
