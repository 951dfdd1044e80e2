"""The package's layers: imports point down only (the README's "How the code is laid out")."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "nwb_cascade"
#: Each part of the package and the parts it may import.
LAYERS = {
    "common": set(),
    "cascade": {"common"},
    "denoise": {"common"},
    "nwb": {"common", "cascade", "denoise"},
    "manifest": {"common"},
    "options": {"common", "cascade"},  # the verbs' options (cascade only lazily: the command line starts fast)
    "spike_inference": {"common", "cascade", "nwb", "options"},
    "denoising": {"common", "denoise", "nwb", "options"},
    "plot": {"common", "cascade", "nwb"},
    "synthetic": {"common", "cascade"},
    "allen": {"common", "nwb", "spike_inference", "options"},
    "dandi_layout": {"common", "nwb", "manifest"},
    "batch": {"common", "cascade", "nwb", "manifest", "options", "spike_inference", "dandi_layout"},
    "summary_plots": set(),
    "summarize": {"common", "nwb", "manifest", "batch", "summary_plots"},
    "cli": {"common", "cascade", "nwb", "options", "spike_inference", "denoising", "plot", "allen", "batch",
            "summarize"},
    "__init__": {"common", "cascade", "options", "spike_inference", "batch", "plot", "summarize", "allen"},
}


def part(module: str) -> str:
    """The layer of a module path inside the package (``nwb_cascade.nwb.read`` -> ``nwb``)."""
    return module.split(".")[1] if module.count(".") else "__init__"


def imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (absolute names)."""
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(relative.parts[:-1]) if relative.name != "__init__" else list(relative.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - node.level + 1]
            found.add(".".join(base + ([node.module] if node.module else [])))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nwb_cascade"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("nwb_cascade"))
    return found


def test_imports_point_down_only():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        own = part(module) if not module.endswith("__init__") or module.count(".") > 1 else "__init__"
        for target in imports(path):
            other = part(target) if target != "nwb_cascade" else "__init__"
            if other != own and other not in LAYERS[own]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(wrong)
