"""Shell words of a Dockerfile's RUN lines: quoting-tolerant word splitting, the simple commands
of a script, and the prefix words in front of a command that do not change which program runs.

Standard library only. Not covered: shell control flow (every command of a RUN counts, whichever
branch runs), expansions other than what `imagebuild.dockerfile.substitute` does.
"""

from __future__ import annotations

import json
import re
import shlex

_SHELL_OPERATORS = set(";&|()")
# Words in front of a command that do not change which program runs.
_PREFIX_WORDS = {
    "then",
    "do",
    "else",
    "elif",
    "!",
    "sudo",
    "exec",
    "time",
    "env",
    "command",
    "nohup",
    "{",
}


def split_words(text: str) -> list[str]:
    """Shell-like words; a plain split when the quoting does not balance (a RUN line may hold
    quoting this reader does not follow), since a rough reading beats none."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line: words split at `;`, `&&`, `||`, `|`, `&`, newlines."""
    if script.lstrip().startswith("["):
        try:
            words = json.loads(script)
            if isinstance(words, list):
                return [[str(w) for w in words]]
        except ValueError:
            pass
    commands = []
    for text in script.replace("\\\n", " ").split("\n"):  # heredoc lines may continue too
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split, lexer.commenters = True, ""
        try:
            tokens = list(lexer)
        except ValueError:
            tokens = re.sub(r"(&&|\|\||;)", r" \1 ", text).split()
        current: list[str] = []
        for token in tokens:
            if token and set(token) <= _SHELL_OPERATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


def strip_prefix(words: list[str]) -> list[str]:
    """Drop RUN flags (`--mount=...`), shell keywords, `sudo`, and `VAR=value` assignments."""
    i = 0
    while i < len(words) and (
        words[i] in _PREFIX_WORDS
        or words[i].startswith("--mount=")
        or words[i].startswith("--network=")
        or words[i].startswith("--security=")
        or re.match(r"^[A-Za-z_]\w*=", words[i])
    ):
        i += 1
    return words[i:]
