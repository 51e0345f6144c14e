#!/usr/bin/env python3
"""Compiles every ```cpp block of README.md and docs/*.md; runs the whole programs.

Run by CTest (`doc_snippets`); docs/*.md is globbed when the test runs, so a new document's
blocks are checked without touching the build. Conventions, by the block's info string (what
follows ```cpp on its opening line; GitHub renders all of them as C++):

  ```cpp            A whole program when it defines `int main(`: compiled, linked against the
                    library and run; it must exit 0 within --run-timeout seconds.
                    Otherwise a fragment: statements, the body of a function taking `broker`
                    (a `switchyard::Broker&`, in memory) and `producer` (its `Producer&`),
                    after tests/docs/snippet_prelude.hpp, which includes
                    <switchyard/switchyard.hpp> and the standard headers, brings in the chrono
                    literals and declares the free names fragments use (`payload`,
                    `send_email`, `handle`, `order_id`, `Order`); a fragment's own
                    declarations shadow them. The fragments of one file are compiled and run
                    in order against one broker, as a reader reads them: a later block may use
                    what an earlier one declared. A fragment that throws fails the test.
  ```cpp no-run     A fragment compiled but not run: it needs what a test cannot give (a data
                    directory under /var/lib, a mail server).
  ```cpp top-level  Declarations at namespace scope (a Codec specialization, a handler), placed
                    before the fragments of the same file, after the prelude.
  ```cpp no-compile Shown, not compiled: a deliberate compile error, or pseudo-code. Say why
                    in the text around it.
  ```cpp coroutines Uses Asio's co_await (use_awaitable): not compiled under --no-coroutines.
                    Boost 1.74's Asio has co_await under g++ (C++20 coroutines) but under clang
                    only with the Coroutines TS headers libstdc++ lacks; CTest passes
                    --no-coroutines in the clang preset (asan).

Fragments and top-level blocks of one file share one translation unit (one compile per file);
each whole program is its own. `#line` directives make every diagnostic point at the Markdown
file and line. Flags: -std=c++20 -Wall -Wextra -Werror, as a careful user would build, so a
dropped Result (nodiscard) in a block fails the test.
"""
import argparse
import pathlib
import re
import shlex
import subprocess
import sys

FENCE = re.compile(r"^```cpp(?P<info>[^\n]*)$")


def blocks(path):
    """(first line number of the code, info words, code) for each ```cpp block."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i].strip())
        if not m:
            i += 1
            continue
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j == len(lines):
            sys.exit(f"{path}:{i + 1}: ```cpp block never closed")
        yield start + 1, m.group("info").split(), "\n".join(lines[start:j])
        i = j + 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source-dir", required=True, type=pathlib.Path)
    p.add_argument("--work-dir", required=True, type=pathlib.Path)
    p.add_argument("--cxx", required=True)
    p.add_argument("--launcher", default="")
    p.add_argument("--flags", default="")
    p.add_argument("--library", required=True)
    p.add_argument("--run-timeout", type=float, default=60)
    p.add_argument("--no-coroutines", action="store_true")
    args = p.parse_args()

    src = args.source_dir
    docs = [src / "README.md"] + sorted((src / "docs").glob("*.md"))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    for old in args.work_dir.glob("*"):
        old.unlink()

    compile_cmd = (shlex.split(args.launcher) + [args.cxx, "-std=c++20", "-Wall", "-Wextra",
                   "-Werror", "-DFMT_HEADER_ONLY=1", "-I", str(src / "include"),
                   "-I", str(src / "tests" / "docs")] + shlex.split(args.flags))
    units = []  # (source file, whole program?, label)
    counts = {"fragment": 0, "program": 0, "skipped": 0}
    for doc in docs:
        rel = doc.relative_to(src).as_posix()
        stem = re.sub(r"\W", "_", rel)
        top, bodies, runs = [], [], []
        for line, info, code in blocks(doc):
            where = f'#line {line} "{rel}"\n'
            if "no-compile" in info or ("coroutines" in info and args.no_coroutines):
                counts["skipped"] += 1
            elif "top-level" in info:
                top.append(where + code)
                counts["fragment"] += 1
            elif re.search(r"\bint\s+main\s*\(", code):
                program = args.work_dir / f"{stem}_{line}.cpp"
                program.write_text(where + code + "\n")
                units.append((program, True, f"{rel}:{line}"))
                counts["program"] += 1
            else:
                name = f"snippet_{stem}_{line}"
                if "no-run" not in info:
                    runs.append(f'  failed += switchyard_snippet_run("{rel}:{line}", [&] {{ '
                                f'{name}(broker, producer); }});')
                bodies.append(
                    f"[[maybe_unused]] static void {name}(switchyard::Broker& broker,\n"
                    f"    switchyard::Producer& producer) {{\n  (void)broker, (void)producer;\n  {{\n"
                    f"{where}{code}\n  }}\n}}\n")
                counts["fragment"] += 1
        if top or bodies:
            unit = args.work_dir / f"{stem}_fragments.cpp"
            main = ("int main() {\n  switchyard::Broker broker;\n"
                    "  auto producer = broker.producer();\n  int failed = 0;\n" +
                    "\n".join(runs) + "\n  return failed == 0 ? 0 : 1;\n}\n")
            unit.write_text('#include "snippet_prelude.hpp"\n' + "\n".join(top) + "\n" +
                            "\n".join(bodies) + "\n" + main)
            units.append((unit, True, f"{rel} (fragments)"))

    failures = 0
    for unit, run, label in units:
        exe = unit.with_suffix("")
        cmd = compile_cmd + [str(unit), "-o", str(exe), args.library, "-pthread"]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            failures += 1
            print(f"FAIL compile {label}\n{built.stdout}{built.stderr}")
            continue
        if not run:
            print(f"ok   compile {label}")
            continue
        try:
            ran = subprocess.run([str(exe)], capture_output=True, text=True,
                                 timeout=args.run_timeout)
        except subprocess.TimeoutExpired:
            failures += 1
            print(f"FAIL run {label}: still running after {args.run_timeout} s")
            continue
        if ran.returncode != 0:
            failures += 1
            print(f"FAIL run {label}: exit {ran.returncode}\n{ran.stdout}{ran.stderr}")
        else:
            print(f"ok   run {label}\n{ran.stdout}", end="")
    print(f"docs_snippets: {len(docs)} files, {counts['program']} programs, "
          f"{counts['fragment']} fragments, {counts['skipped']} not compiled (no-compile"
          f"{', coroutines' if args.no_coroutines else ''}), "
          f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
