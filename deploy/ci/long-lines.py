#!/usr/bin/env python3
"""Fails when a line of Rust code is longer than rustfmt's max_width.

rustfmt leaves a statement untouched when it cannot fit it (a long chain inside a closure, a macro
body), and `cargo fmt --check` stays green on code nobody formatted. Code lines (outside string
literals and comments) over the limit are exactly where that happened. Attributes are exempt:
rustfmt does not wrap their contents either, and they hold no logic.
"""
import pathlib
import sys

MAX = 100
ROOTS = ["crates", "services", "tests"]


def code_overflows(text):
    in_str = False
    raw_hashes = None  # inside r#"..."#
    attr_depth = 0  # inside a multi-line attribute
    for number, line in enumerate(text.splitlines(), 1):
        started_in_str = in_str
        code = []
        i = 0
        while i < len(line):
            c = line[i]
            if in_str:
                if raw_hashes is not None:
                    end = '"' + "#" * raw_hashes
                    if line.startswith(end, i):
                        in_str, raw_hashes = False, None
                        i += len(end)
                        continue
                elif c == "\\":
                    i += 2
                    continue
                elif c == '"':
                    in_str = False
                i += 1
                continue
            if line.startswith("//", i):
                break
            if c == "r" and (line.startswith('r"', i) or line.startswith('r#', i)):
                j = i + 1
                while j < len(line) and line[j] == "#":
                    j += 1
                if j < len(line) and line[j] == '"':
                    in_str, raw_hashes = True, j - i - 1
                    i = j + 1
                    continue
            if c == "'" and i + 2 < len(line) and line[i + 2] == "'":
                i += 3  # a char literal such as '"'
                continue
            if c == '"':
                in_str = True
            code.append(c)
            i += 1
        stripped = line.strip()
        in_attr = attr_depth > 0 or stripped.startswith(("#[", "#!["))
        if in_attr:
            text_code = "".join(code)
            attr_depth = max(0, attr_depth + text_code.count("[") - text_code.count("]"))
        if (
            len(line) > MAX
            and not started_in_str
            and not in_str
            and '"' not in line
            and not in_attr
            and not stripped.startswith("//")
        ):
            yield number, len(line)


def main():
    bad = []
    for root in ROOTS:
        for path in sorted(pathlib.Path(root).rglob("*.rs")):
            if "target" in path.parts:
                continue
            for number, length in code_overflows(path.read_text()):
                bad.append(f"{path}:{number}: {length} columns")
    if bad:
        print("Lines rustfmt could not fit in 100 columns (format them by hand):")
        print("\n".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
