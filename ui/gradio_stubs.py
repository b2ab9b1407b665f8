"""Importing gradio without its type-stub regeneration.

At every import, gradio rebuilds the `.pyi` stub of each component class it defines
(`gradio.component_meta.create_or_modify_pyi`: parse the class's source file, render a Jinja template,
compare it with the installed `.pyi`, rewrite it only if it differs). That keeps gradio's own source tree in
sync for its developers; in an installed gradio the stubs come with the wheel and are current, so it writes
nothing, yet it is ~1.2-1.6 s of the ~3.5 s import and the longest step of `rag serve`'s start-up. gradio has no
switch for it, so `install()` adds an import hook that, once gradio.component_meta has run, replaces that
function with a no-op. If a gradio release renames it, the hook does nothing and gradio imports as before,
only slower (tests/test_ui_app.py checks that it applies to the installed version)."""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

MODULE, FUNCTION = "gradio.component_meta", "create_or_modify_pyi"


def skip_stubs(*args, **kwargs) -> None:
    """Stands in for gradio's stub writer: the installed stubs are left as they are."""


class SkipStubs(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta the normal way and patches it right after it runs, before any component
    class is defined. It stays in sys.meta_path (one string comparison per import): removing it while another
    thread walks the list could make that thread skip a finder."""

    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if callable(getattr(module, FUNCTION, None)):
                setattr(module, FUNCTION, skip_stubs)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Add the hook, unless gradio is already imported (too late) or the hook is there."""
    if MODULE not in sys.modules and not any(isinstance(f, SkipStubs) for f in sys.meta_path):
        sys.meta_path.insert(0, SkipStubs())
