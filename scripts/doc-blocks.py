#!/usr/bin/env python3
"""The command blocks of README.md and docs/*.md, checked and run (docs/writing-docs.md).

  doc-blocks.py --list [FILE...]              every fenced block: file:line, language, its marker
  doc-blocks.py --check [FILE...]             every sh/bash/console/shell block is marked
                                              `<!-- doc-test: run ... -->` or
                                              `<!-- doc-test: skip reason="..." -->`; without
                                              FILEs also: each file with runnable blocks has its
                                              ctest entry in tests/docs/CMakeLists.txt
  doc-blocks.py --run FILE --build DIR        runs FILE's runnable blocks, in order, in one shell
                                              session, as a reader in the checkout root would,
                                              with DIR (the build tree under test) as build/default

Without FILEs: README.md and docs/*.md of the checkout this script belongs to. Exit status 0 when
all is well, 1 otherwise (each problem one line naming FILE:LINE), 2 for bad usage.
"""
import argparse
import ctypes
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHELL_LANGS = {"sh", "bash", "console", "shell"}
DEFAULT_TIMEOUT = 60
GRACE_S = 2.0  # a process still alive this long after the last block ended was left running
# A command a runnable block needs (`needs=`) -> the Debian package scripts/install-deps.sh
# installs it from. --check insists that the package is in the installer's list.
NEEDS = {
    "curl": "curl",
    "python3": "python3",
    "microsocks": "microsocks",
    "cc": "build-essential",
    "make": "build-essential",
    "cmake": "cmake",
    "cpack": "cmake",
    "pkg-config": "pkg-config",
    "clang": "clang",
}
FENCE = re.compile(r"^( *)(`{3,}|~{3,})(.*)$")
MARKER = re.compile(r"^\s*<!--\s*doc-test:(.*?)-->\s*$")


class Block:
    def __init__(self, path, line, lang, info, body):
        self.path, self.line, self.lang, self.info, self.body = path, line, lang, info, body
        self.kind = None      # "run", "skip" or None (unmarked)
        self.settings = {}    # needs: [..], timeout: N, expect: [..], reason: ".."

    @property
    def where(self):
        return f"{display(self.path)}:{self.line}"


class DocFile:
    def __init__(self, path):
        self.path = path
        self.blocks = []
        self.shell = "bash"   # `<!-- doc-test: file shell=sh -->`
        self.errors = []


def display(path):
    try:
        return str(pathlib.Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def parse_marker(text, where, errors):
    """`run needs=a,b timeout=N expect=RE ...`, `skip reason="..."` or `file shell=sh`."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        errors.append(f"{where}: doc-test marker: {e}")
        return None, {}
    if not words or words[0] not in ("run", "skip", "file"):
        errors.append(f"{where}: doc-test marker must start with run, skip or file, got {text.strip()!r}")
        return None, {}
    kind, settings = words[0], {}
    allowed = {"run": {"needs", "timeout", "expect"}, "skip": {"reason"}, "file": {"shell"}}[kind]
    for w in words[1:]:
        key, eq, value = w.partition("=")
        if not eq or key not in allowed:
            errors.append(f"{where}: doc-test {kind}: unknown setting {w!r} (known: {', '.join(sorted(allowed))})")
            continue
        if key == "needs":
            settings["needs"] = [n for n in value.split(",") if n]
            for n in settings["needs"]:
                if n not in NEEDS:
                    errors.append(f"{where}: needs={n}: unknown command; add it and its Debian package to NEEDS "
                                  f"in scripts/doc-blocks.py and the package to scripts/install-deps.sh")
        elif key == "timeout":
            if not value.isdigit() or not 1 <= int(value) <= 600:
                errors.append(f"{where}: timeout={value}: expected seconds, 1-600")
            else:
                settings["timeout"] = int(value)
        elif key == "expect":
            try:
                re.compile(value)
            except re.error as e:
                errors.append(f"{where}: expect={value!r}: not a regular expression: {e}")
            settings.setdefault("expect", []).append(value)
        elif key == "reason":
            settings["reason"] = value.strip()
        elif key == "shell":
            if value not in ("bash", "sh"):
                errors.append(f"{where}: shell={value}: expected bash or sh")
            settings["shell"] = value
    if kind == "skip" and not settings.get("reason"):
        errors.append(f"{where}: doc-test skip needs a reason=\"...\" (why a reader's command is not run)")
    return kind, settings


def parse(path):
    doc = DocFile(path)
    lines = pathlib.Path(path).read_text().splitlines()
    where = lambda n: f"{display(path)}:{n}"
    pending = None  # (line number, kind, settings) of a marker waiting for its block
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            indent, fence, info = len(m.group(1)), m.group(2), m.group(3).strip()
            body, j = [], i + 1
            while j < len(lines):
                c = lines[j]
                s = c.strip()
                if s.startswith(fence[0] * len(fence)) and not s.strip(fence[0]):
                    break
                body.append(c[indent:] if c[:indent].strip() == "" else c.lstrip())
                j += 1
            if j == len(lines):
                doc.errors.append(f"{where(i + 1)}: the block is not closed")
            lang = info.split()[0].lower() if info else ""
            block = Block(path, i + 1, lang, info, body)
            if pending:
                mline, kind, settings = pending
                if lang not in SHELL_LANGS:
                    doc.errors.append(f"{where(mline)}: doc-test {kind} before a {lang or 'plain'} block: only "
                                      f"{', '.join(sorted(SHELL_LANGS))} blocks are marked")
                elif kind == "run" and lang == "console":
                    doc.errors.append(f"{where(mline)}: a console block shows a session with its output: "
                                      f"mark it skip, or make it a sh block")
                else:
                    block.kind, block.settings = kind, settings
                pending = None
            doc.blocks.append(block)
            i = j + 1
            continue
        mk = MARKER.match(line)
        if mk:
            if pending:
                doc.errors.append(f"{where(pending[0])}: doc-test marker not followed by a block")
                pending = None
            kind, settings = parse_marker(mk.group(1), where(i + 1), doc.errors)
            if kind == "file":
                doc.shell = settings.get("shell", doc.shell)
            elif kind:
                pending = (i + 1, kind, settings)
        elif line.strip() and pending:
            doc.errors.append(f"{where(pending[0])}: doc-test marker not followed by a block "
                              f"(it must be the line right before the fence)")
            pending = None
        i += 1
    if pending:
        doc.errors.append(f"{where(pending[0])}: doc-test marker not followed by a block")
    for b in doc.blocks:
        if b.lang in SHELL_LANGS and b.kind is None:
            doc.errors.append(f"{b.where}: unmarked {b.lang} block: put <!-- doc-test: run --> or "
                              f"<!-- doc-test: skip reason=\"...\" --> on the line before it (docs/writing-docs.md)")
    return doc


def default_files():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def installer_packages():
    text = (ROOT / "scripts" / "install-deps.sh").read_text()
    m = re.search(r"^PKGS=\((.*?)^\)", text, re.S | re.M)
    return set(m.group(1).split()) if m else set()


def test_name(path):
    return "Docs.S16_4_RunnableBlocksOf_" + re.sub(r"\W", "_", pathlib.Path(path).stem)


def check(files, whole_set):
    errors, counts = [], []
    pkgs = installer_packages()
    ctest = (ROOT / "tests" / "docs" / "CMakeLists.txt").read_text() if whole_set else ""
    for f in files:
        doc = parse(f)
        errors += doc.errors
        run = [b for b in doc.blocks if b.kind == "run"]
        skip = [b for b in doc.blocks if b.kind == "skip"]
        for b in run:
            for n in b.settings.get("needs", []):
                if n in NEEDS and NEEDS[n] not in pkgs:
                    errors.append(f"{b.where}: needs={n}: its package {NEEDS[n]} is not in scripts/install-deps.sh")
        if whole_set and run and test_name(f) not in ctest:
            errors.append(f"{display(f)}: has runnable blocks but tests/docs/CMakeLists.txt has no "
                          f"{test_name(f)} running them")
        if run or skip:
            counts.append(f"{display(f)}: {len(run)} run, {len(skip)} skipped")
    for e in errors:
        print(e)
    if not errors:
        for c in counts:
            print(c)
    return 0 if not errors else 1


def list_blocks(files):
    for f in files:
        doc = parse(f)
        for b in doc.blocks:
            mark = b.kind or ("UNMARKED" if b.lang in SHELL_LANGS else "-")
            extra = ""
            if b.kind == "skip":
                extra = f' reason="{b.settings["reason"]}"' if b.settings.get("reason") else ""
            elif b.kind == "run":
                extra = "".join(f" {k}={','.join(v) if isinstance(v, list) else v}" for k, v in b.settings.items())
            print(f"{b.where}\t{b.lang or '-'}\t{mark}{extra}")
    return 0


# --- running -------------------------------------------------------------------------------

def processes():
    """pid -> (ppid, state, cmdline) of every process we can see."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{d}/stat").read_text()
            rest = stat[stat.rindex(")") + 2:].split()
            cmd = pathlib.Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            out[int(d)] = (int(rest[1]), rest[0], cmd)
        except (OSError, ValueError, IndexError):
            continue
    return out


def live_descendants():
    """Processes below this one (the subreaper: every orphan of the blocks comes back here)."""
    procs = processes()
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [os.getpid()]
    while todo:
        for c in children.get(todo.pop(), []):
            todo.append(c)
            if procs[c][1] not in "ZX":
                found.append((c, procs[c][2]))
    return found


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(sig):
    for pid, _ in live_descendants():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def end_everything():
    """TERM, then KILL, every process below this one; reaps them."""
    kill_all(signal.SIGTERM)
    deadline = time.monotonic() + 2
    while live_descendants() and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
    for _ in range(20):
        if not live_descendants():
            break
        kill_all(signal.SIGKILL)
        time.sleep(0.05)
        reap()
    reap()


def shadow_checkout(root, build):
    """A directory that reads like the checkout root: every top-level entry of the source tree
    linked, build/default linked to the build tree under test. What a block writes lands here."""
    root.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("build", ".git"):
            (root / entry.name).symlink_to(entry)
    (root / "build").mkdir()
    (root / "build" / "default").symlink_to(build)


def tail(data, n=40):
    lines = data.decode(errors="replace").splitlines()
    cut = lines[-n:]
    return ("  ... (" + str(len(lines) - n) + " lines before)\n" if len(lines) > n else "") + \
        "\n".join("  | " + l for l in cut)


def run_file(path, build, verbose=False):
    doc = parse(path)
    if doc.errors:
        for e in doc.errors:
            print(e)
        return 1
    blocks = [b for b in doc.blocks if b.kind == "run"]
    if not blocks:
        print(f"{display(path)}: no runnable blocks (<!-- doc-test: run -->)")
        return 1
    build = pathlib.Path(build).resolve()
    if not (build / "openwfp").is_file():
        print(f"{build}: not a built openwfp tree (no openwfp binary): build it first (make build)")
        return 1
    missing = []
    for b in blocks:
        for n in b.settings.get("needs", []):
            if shutil.which(n) is None:
                missing.append(f"{b.where}: needs {n}, which is not on PATH: install it "
                               f"(bash scripts/install-deps.sh installs the Debian package {NEEDS[n]})")
    if missing:
        print("\n".join(missing))
        return 1

    # Orphans of the blocks (a daemon, a job left in the background) are re-parented to us.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        print(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
        return 1

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="openwfp-doc."))
    try:
        return run_session(doc, blocks, build, tmp, verbose)
    finally:
        end_everything()
        shutil.rmtree(tmp, ignore_errors=True)


def run_session(doc, blocks, build, tmp, verbose):
    root, home, run, parts = tmp / "checkout", tmp / "home", tmp / "run", tmp / "blocks"
    shadow_checkout(root, build)
    home.mkdir()
    run.mkdir(mode=0o700)
    parts.mkdir()
    out_path, prog_path = tmp / "output", tmp / "progress"
    out_path.touch()
    prog_path.touch()
    q = shlex.quote
    script = ["set -e -o pipefail" if doc.shell == "bash" else "set -e"]
    for n, b in enumerate(blocks):
        f = parts / f"{n}.sh"
        f.write_text("\n".join(b.body) + "\n")
        script.append(f'echo "start {n} $(wc -c <{q(str(out_path))})" >>{q(str(prog_path))}')
        script.append(f". {q(str(f))}")
        script.append(f'echo "end {n} $(wc -c <{q(str(out_path))})" >>{q(str(prog_path))}')
    (tmp / "session.sh").write_text("\n".join(script) + "\n")

    env = dict(os.environ)
    for k in ("OPENWFP_ENGINE", "OPENWFP_SOCKET", "OPENWFP_LOG", "OPENWFP_POLICY_DRIVER", "CDPATH", "BASH_ENV", "ENV"):
        env.pop(k, None)
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(run), PWD=str(root))
    cache = build / "CMakeCache.txt"
    if cache.is_file() and re.search(r"^OPENWFP_SANITIZE:BOOL=ON$", cache.read_text(), re.M):
        # A program a block compiles against the instrumented libopenwfp does not link the ASan
        # runtime first; the commands are the normal build's.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))

    started, ended = {}, {}   # block index -> (monotonic time, output offset) / output offset
    def progress():
        for l in prog_path.read_text().splitlines():
            what, n, off = l.split()
            n, off = int(n), int(off)
            if what == "start" and n not in started:
                started[n] = (time.monotonic(), off)
            elif what == "end":
                ended[n] = off

    with open(out_path, "ab") as out:
        session = subprocess.Popen([doc.shell, str(tmp / "session.sh")], cwd=root, env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    timed_out = None
    def on_signal(signum, _frame):
        end_everything()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"{display(doc.path)}: stopped by signal {signum}; every process of the blocks ended")
        os._exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while session.poll() is None:
        progress()
        current = [n for n in started if n not in ended]
        if current:
            n = current[-1]
            limit = blocks[n].settings.get("timeout", DEFAULT_TIMEOUT)
            if time.monotonic() - started[n][0] > limit:
                timed_out = (n, limit)
                try:
                    os.killpg(session.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                end_everything()
                session.wait()
                break
        time.sleep(0.05)
    rc = session.wait()
    progress()
    output = out_path.read_bytes()
    if verbose:
        sys.stdout.write(output.decode(errors="replace"))

    failure = None
    if timed_out:
        n, limit = timed_out
        failure = (n, f"the block did not finish within {limit} s (timeout=N raises it)")
    elif len(ended) < len(blocks):
        n = max(started) if started else 0
        failure = (n, f"the block failed: the shell exited with status {rc}" if rc else
                   "the block ended the shell (exit) before its last line")
    else:
        for n, b in enumerate(blocks):
            # From the block's start on: what it started in the background may log later.
            text = output[started[n][1]:].decode(errors="replace")
            for pattern in b.settings.get("expect", []):
                if not re.search(pattern, text, re.M):
                    failure = (n, f"no line of the output from the block's start on matches expect={pattern!r}")
                    break
            if failure:
                break
    if failure:
        n, why = failure
        since = started.get(n, (0, 0))[1]
        print(f"{blocks[n].where}: {why}\n  output of the block (from its start):\n{tail(output[since:])}")

    # Nothing may be left running: what the blocks started, they end.
    deadline = time.monotonic() + GRACE_S
    left = live_descendants()
    while left and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
        left = live_descendants()
    if left:
        listing = "\n".join(f"  pid {pid}: {cmd}" for pid, cmd in left)
        end_everything()
        if not failure:
            print(f"{display(doc.path)}: the blocks left {len(left)} process(es) running {GRACE_S:g} s after "
                  f"the last one ended (now killed); a block must stop what it starts:\n{listing}")
            return 1
        print(f"  processes the failed blocks left (killed):\n{listing}")
    if failure:
        return 1
    print(f"{display(doc.path)}: {len(blocks)} block(s) ran: " +
          ", ".join(f"line {b.line}" for b in blocks))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true")
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--run", metavar="FILE")
    ap.add_argument("--build", metavar="DIR", help="the build tree (for --run)")
    ap.add_argument("--verbose", action="store_true", help="--run: print the blocks' whole output")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = [pathlib.Path(f) for f in args.files] or default_files()
    for f in files + ([pathlib.Path(args.run)] if args.run else []):
        if not f.is_file():
            print(f"{f}: no such file")
            return 2
    if args.list:
        return list_blocks(files)
    if args.check:
        return check(files, whole_set=not args.files)
    if not args.build:
        ap.error("--run needs --build DIR")
    return run_file(pathlib.Path(args.run), args.build, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
