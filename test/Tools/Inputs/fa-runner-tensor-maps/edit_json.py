"""Writes a copy of a JSON file with some members changed or removed.

usage: edit_json.py IN OUT EDIT...
EDIT is PATH=VALUE (VALUE is JSON) or -PATH (remove); PATH names members
and array indices with dots: tensor_maps.1.box.0=60
"""

import json
import sys


def parent(root, path):
    *keys, last = path.split(".")
    node = root
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node, int(last) if isinstance(node, list) else last


source, target, *edits = sys.argv[1:]
with open(source) as f:
    root = json.load(f)
for edit in edits:
    if edit.startswith("-"):
        node, key = parent(root, edit[1:])
        del node[key]
    else:
        path, value = edit.split("=", 1)
        node, key = parent(root, path)
        node[key] = json.loads(value)
with open(target, "w") as f:
    json.dump(root, f, indent=1)
