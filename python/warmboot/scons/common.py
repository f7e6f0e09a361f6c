"""What every warmboot SCons tool uses: scons_step, which turns our errors
into one clean build error, and tool, which makes a tool's generate() apply
the tools it needs first and run once per construction environment."""

from __future__ import annotations

import functools
import sys

import SCons.Errors

from ..errors import WarmbootError

# The tools applied to a construction environment, by module name.
APPLIED = "WB_TOOLS_APPLIED"


def scons_step(fn):
    """Wrap a Python SCons action so our errors print as one clean message."""

    def action(target, source, env):
        try:
            return fn(target, source, env)
        except WarmbootError as exc:
            print(f"\nwarmboot: error: {exc}", file=sys.stderr, flush=True)
            raise SCons.Errors.BuildError(
                node=target[0] if target else None,
                errstr=str(exc).splitlines()[0],
                exitstatus=2,
                action=None,
            ) from None

    action.__name__ = fn.__name__
    action.__doc__ = fn.__doc__
    return action


def tool(*needs):
    """Decorate a tool module's generate(env): env.Tool(module.generate)
    applies the tool modules in `needs` first (their methods are what this
    tool's builders call), then this one, each once per environment."""

    def decorate(generate):
        @functools.wraps(generate)
        def apply(env) -> None:
            applied = env.get(APPLIED, ())
            if generate.__module__ in applied:
                return
            env[APPLIED] = (*applied, generate.__module__)
            for need in needs:
                env.Tool(need.generate)
            generate(env)

        return apply

    return decorate
