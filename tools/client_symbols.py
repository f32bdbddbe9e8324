#!/usr/bin/env python3
"""Keeps tests/data/required-symbols.txt: the CUDA symbols real clients import.

The guest libraries must export every symbol listed (tests/guest checks it),
or a real client fails to load them: dlopen(RTLD_NOW) of libggml-cuda.so or
`import torch` stops at the first missing one.

Sections name the library that must export a symbol ([libcudart.so.13],
[libcublas.so.13], [libcublasLt.so.13], ...). Versioned imports are read off
client binaries with `nm -D --undefined-only` (`cudaMalloc@libcudart.so.13`
goes to [libcudart.so.13]). Entry points a client resolves at run time
(dlsym of libcuda.so.1 and libnvidia-ml.so.1 by Ollama's GPU discovery,
cuGetProcAddress) leave no trace in the dynamic symbol table; those sections
are kept by hand, and merging never removes a line.

usage:
  client_symbols.py [--list FILE] --source TEXT CLIENT...
      merge the imports of each CLIENT into FILE. A CLIENT is an ELF file, a
      folder (every *.so* and executable below it), a wheel (.whl), or a text
      file of `symbol@library` lines (as `nm` prints them).
  client_symbols.py [--list FILE] --check
      exit 1 if FILE is not in its canonical form (sorted, no duplicates).

example (PyTorch, CuPy and JAX wheels, downloaded with pip download --no-deps):
  tools/client_symbols.py --source "torch 2.11.0+cu130, cupy-cuda13x 14.2, jax-cuda13-plugin 0.11" *.whl
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile

DEFAULT_LIST = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "required-symbols.txt")
VERSIONED = re.compile(r"^(\w+)@+(libcudart\.so\.\d+|libcublas\.so\.\d+|libcublasLt\.so\.\d+)$")


def read_list(path):
    """Returns (header comment lines, {section: set(symbols)}, section order)."""
    header, sections, order, cur = [], {}, [], None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^\[(.+)\]$", line)
            if m:
                cur = m.group(1)
                if cur not in sections:
                    sections[cur] = set()
                    order.append(cur)
            elif cur is None:
                header.append(line)
            elif line.strip() and not line.startswith("#"):
                sections[cur].add(line.split()[0])
    return header, sections, order


def render(header, sections, order):
    out = list(header)
    for s in order:
        out.append(f"[{s}]")
        out.extend(sorted(sections[s]))
    return "\n".join(out) + "\n"


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_imports(path):
    r = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True)
    return [l.split()[-1] for l in r.stdout.splitlines() if l.strip()]


def folder_imports(folder):
    syms = []
    for root, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            if (".so" in name or os.access(p, os.X_OK)) and not os.path.islink(p) and is_elf(p):
                syms += elf_imports(p)
    return syms


def client_imports(client):
    if os.path.isdir(client):
        return folder_imports(client)
    if client.endswith(".whl"):
        with tempfile.TemporaryDirectory() as d:
            zipfile.ZipFile(client).extractall(d)
            return folder_imports(d)
    if is_elf(client):
        return elf_imports(client)
    with open(client) as f:
        return [l.split()[-1] for l in f if l.strip() and not l.startswith("#")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", default=DEFAULT_LIST)
    ap.add_argument("--source", help="what the clients are (recorded in the list's header)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("clients", nargs="*")
    a = ap.parse_args()
    header, sections, order = read_list(a.list)
    if a.check:
        with open(a.list) as f:
            if f.read() != render(header, sections, order):
                print(f"{a.list}: not canonical; rewrite it with {sys.argv[0]} --list {a.list} --source ...",
                      file=sys.stderr)
                return 1
        return 0
    if not a.clients or not a.source:
        ap.error("give --source TEXT and at least one CLIENT")
    added = {}
    for c in a.clients:
        for sym in client_imports(c):
            m = VERSIONED.match(sym)
            if not m:
                continue
            name, lib = m.groups()
            if lib not in sections:
                sections[lib] = set()
                order.append(lib)
            if name not in sections[lib]:
                sections[lib].add(name)
                added[lib] = added.get(lib, 0) + 1
    line = f"# source: {a.source}"
    if line not in header:
        header.append(line)
    with open(a.list, "w") as f:
        f.write(render(header, sections, order))
    print(", ".join(f"{lib} +{n}" for lib, n in added.items()) or "nothing new", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
