"""The function tasks Taskhook ships (TASKHOOK_TASK_MODULES=builtin): seed 003's two examples and
`builtin.fetch_url`. Each module registers its functions when imported (registry.BUILTIN_MODULES)."""
