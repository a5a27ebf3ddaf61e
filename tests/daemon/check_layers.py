#!/usr/bin/env python3
"""daemon/'s folders are layers: a file may include headers of its own folder and of the layers
below it, never of a layer above or of a sibling (cli/ and service/ are both above profiles/ and
know nothing of each other). Prints every include that breaks this and fails; passes silently."""
import os
import re
import sys

LAYERS = {"base": 0, "process": 1, "collect": 2, "profiles": 3, "cli": 4, "service": 4}
TOP = 5  # daemon/main.cc


def layer_of(path):
    first = path.split("/", 1)[0]
    return (first, LAYERS[first]) if "/" in path else ("main", TOP)


def main(daemon_dir):
    errors = []
    for folder, _, files in os.walk(daemon_dir):
        for name in files:
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.relpath(os.path.join(folder, name), daemon_dir)
            if "/" in path and path.split("/", 1)[0] not in LAYERS:
                errors.append(f"{path}: in no known layer (add its folder to check_layers.py)")
                continue
            own, rank = layer_of(path)
            with open(os.path.join(daemon_dir, path)) as f:
                for number, line in enumerate(f, 1):
                    m = re.match(r'#include "([a-z_]+)/', line)
                    if not m or m.group(1) not in LAYERS:
                        continue
                    other = m.group(1)
                    if other == own:
                        continue
                    if LAYERS[other] >= rank:
                        errors.append(f"{path}:{number}: includes {line.split()[1]} "
                                      f"({other}/ is not below {own}/)")
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  os.path.join(os.path.dirname(__file__), "..", "..", "daemon")))
