"""The ``imagewatch`` sub-commands, one module each.

Each module has ``add_parser(sub)``, which adds its parser and sets ``handler`` to a function taking
the parsed arguments and returning an exit code (``imagewatch.commands.exit_codes``). Modules import
what they need inside their handlers, so ``imagewatch --help`` stays fast.
"""

from __future__ import annotations

# In the order ``imagewatch --help`` lists them.
COMMANDS = ("run", "invoke", "preview", "validate", "policy_test", "doctor", "violations", "history")
