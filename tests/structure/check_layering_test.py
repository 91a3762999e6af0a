#!/usr/bin/env python3
"""Tests of scripts/check-layering.py: it passes on the tree, and it fails, naming the file and
the rule, on each kind of planted violation (in a copy of src/ and docs/architecture.md).

  check_layering_test.py SOURCE_DIR [CASE]     CASE: tree | planted (default: both)
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

source = pathlib.Path(sys.argv[1]).resolve()
script = source / "scripts" / "check-layering.py"
failures = []


def run(root):
    p = subprocess.run([sys.executable, str(script), "--root", str(root)], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout + p.stderr


def expect(name, ok, detail):
    print(("ok    " if ok else "FAIL  ") + name)
    if not ok:
        failures.append(name)
        print("      " + detail.replace("\n", "\n      "))


def copy_tree(dst):
    shutil.copytree(source / "src", dst / "src")
    shutil.copytree(source / "docs", dst / "docs")
    shutil.copytree(source / "include", dst / "include")


def planted(label, plant, expected):
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        copy_tree(root)
        rc, out = run(root)
        if rc != 0:
            expect(label + ": the unplanted copy passes", False, out)
            return
        plant(root)
        rc, out = run(root)
        expect(f"{label}: exit 1 and '{expected}'", rc == 1 and expected in out, f"rc={rc}\n{out}")


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def edit_doc(root, old, new):
    doc = root / "docs" / "architecture.md"
    text = doc.read_text()
    assert old in text, old
    doc.write_text(text.replace(old, new, 1))


cases = sys.argv[2:] or ["tree", "planted"]
if "tree" in cases:
    rc, out = run(source)
    expect("the tree follows docs/architecture.md", rc == 0 and "follow docs/architecture.md" in out, out)
if "planted" in cases:
    # A system header under a directory named like a module (<linux/io_uring.h>) is not the
    # module's: net may include it.
    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        copy_tree(root)
        write(root, "src/net/planted.cpp", '#include <linux/io_uring.h>\n#include <sys/socket.h>\n')
        rc, out = run(root)
        expect("net includes the kernel's <linux/io_uring.h>: passes", rc == 0, f"rc={rc}\n{out}")
    planted("engine includes a linux header",
            lambda r: write(r, "src/engine/planted.h", '#pragma once\n#include "linux/syscalls.h"\n'),
            "src/engine/planted.h:2: engine may not include linux/syscalls.h")
    planted("redirect includes an engine header with angle brackets",
            lambda r: write(r, "src/redirect/planted.cpp", '#include <engine/engine.h>\n'),
            "src/redirect/planted.cpp:1: redirect may not include engine/engine.h")
    planted("engine includes a public header of the sim module",
            lambda r: write(r, "src/engine/planted.cpp", '  #  include "openwfp/sim.h"\n'),
            "src/engine/planted.cpp:1: engine may not include openwfp/sim.h (implemented by sim")
    planted("net includes a WDK header",
            lambda r: write(r, "src/net/planted.cpp", '#include <fwpsk.h>\n'),
            "src/net/planted.cpp:1: net may not include the WDK header fwpsk.h")
    planted("a public header missing from the table",
            lambda r: (write(r, "include/openwfp/planted.h", "#pragma once\n"),
                       write(r, "src/net/planted.cpp", '#include "openwfp/planted.h"\n')),
            "openwfp/planted.h is not in docs/architecture.md's public header table")
    planted("a public header includes one of a module its module may not use",
            lambda r: (r / "include/openwfp/trace.h").write_text(
                '#include "openwfp/host.h"\n' + (r / "include/openwfp/trace.h").read_text()),
            "include/openwfp/trace.h:1: openwfp/trace.h (verifier) may not include openwfp/host.h")
    planted("a module folder without a row",
            lambda r: write(r, "src/planted/x.cpp", "int x;\n"),
            "src/planted/: module has no row")
    planted("a file over 600 lines",
            lambda r: write(r, "src/net/planted.cpp", "//\n" * 601),
            "src/net/planted.cpp: 601 lines (at most 600")
    planted("a cycle in the table",
            lambda r: edit_doc(r, "| redirect | - | no |", "| redirect | engine | no |"),
            "cycle in the allowed-dependency table")
    planted("a row that names an unknown module",
            lambda r: edit_doc(r, "| linux | net | no |", "| linux | net, nosuch | no |"),
            "module linux uses unknown module nosuch")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
