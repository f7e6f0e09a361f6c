"""warmboot's SCons tools: one module per build step, each adding the
construction-environment methods that put its step into the build graph
(env.CorebootBuild, env.LinuxBuild, ...). SConstruct imports frontend, which
checks the board and the host and wires a board's graph from the tools.

A tool is applied with env.Tool(module.generate); a tool that calls another
tool's methods names it in its @tool(...) decorator, so the order in which
tools are applied does not matter. What a step does without SCons (commands,
environments, file formats) is in warmboot.steps, where the benchmark and the
tests use it too.
"""
