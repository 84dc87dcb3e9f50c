"""The rooms of docs/ARCHITECTURE.md, checked from the source: no import cycle among our packages (imports
inside functions count: a cycle postponed to call time is still a cycle), no core module importing a web
framework, python-telegram-bot or twilio, and each room importing only the rooms it may."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "scheduling", "models", "standins")

# Each module's room, by the longest matching prefix: one folder, one room. A new module lands in its
# folder's room; docs/ARCHITECTURE.md says the same in words.
ROOMS = {
    "models": "storage",
    "bot": "core",
    "bot.out": "out",
    "bot.run": "root",
    "scheduling": "time",
    "handlers": "edge",
    "handlers.cli": "cli",
    "standins": "standins",
}
# What each room may import of ours, besides itself.
MAY_IMPORT = {
    "storage": set(),
    "core": {"storage", "out"},  # the core queues sends (bot.out.outbox) and reads transports.base's types
    "out": {"core", "storage"},
    "time": {"core", "out", "storage"},
    "edge": {"core", "out", "time", "storage"},
    "cli": {"edge", "core", "out", "time", "storage", "root"},  # `tettpa serve` starts the root
    "root": {"edge", "cli", "core", "out", "time", "storage", "standins"},
    "standins": set(),  # they stand in for the outside world: they know nothing of ours
}
# The core: everything that decides. It must run (and be tested) without a web server, PTB or twilio.
CORE_ROOMS = {"storage", "core", "time"}
# The way out, less the two concrete transports (and `connect`, which asks the providers).
CORE_ALSO = {"bot.out", "bot.out.outbox", "bot.out.transports", "bot.out.transports.base"}
FORBIDDEN_IN_CORE = {"starlette", "uvicorn", "fastapi", "telegram", "twilio"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:  # Alembic loads these by path; nothing imports them
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(path: Path, name: str, is_package: bool) -> tuple[set[str], set[str]]:
    """(dotted names this file imports, top-level names of what it imports)."""
    names, tops = set(), set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
                tops.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
                tops.add(module.split(".")[0])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from bot import relay`
    return names, tops


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Our modules -> the modules of ours each imports; and -> the top-level packages each imports."""
    mods = modules()

    def ours(dotted: str) -> str | None:
        while dotted and dotted not in mods:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    edges, third = {}, {}
    for name, path in mods.items():
        names, tops = _imported(path, name, path.name == "__init__.py")
        edges[name] = {m for m in map(ours, names) if m and m != name}
        third[name] = tops
    return edges, third


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def room(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in ROOMS:
            return ROOMS[".".join(parts[:n])]
    raise AssertionError(f"{module} is in no room")


def is_core(module: str) -> bool:
    return room(module) in CORE_ROOMS or module in CORE_ALSO


def test_it_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_it_has_no_import_cycle():
    edges, _ = graph()
    assert {"bot.relay", "handlers.telegram.commands", "scheduling.wakeups", "models.people"} <= set(edges)
    assert cycles(edges) == []


def test_it_keeps_web_frameworks_telegram_and_twilio_out_of_the_core():
    _, third = graph()
    core = [m for m in third if is_core(m)]
    assert "bot.relay" in core and "bot.out.outbox" in core and "bot.out.transports.telegram" not in core
    offending = {m: sorted(third[m] & FORBIDDEN_IN_CORE) for m in core if third[m] & FORBIDDEN_IN_CORE}
    assert offending == {}


def test_it_imports_only_the_rooms_each_room_may():
    edges, _ = graph()
    wrong = sorted(f"{m} ({room(m)}) imports {o} ({room(o)})" for m, targets in edges.items() for o in targets
                   if room(o) != room(m) and room(o) not in MAY_IMPORT[room(m)])
    assert wrong == []


def test_it_puts_every_module_in_a_room():
    assert all(room(m) for m in modules())  # room() raises for a module outside every room
