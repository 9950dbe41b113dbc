"""Files only the desk's own user may read: the SQLite database and backups hold every
mail, password hash and token secret (as secret_key does, made 0600 in desk.config)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_file(path: Path) -> None:
    """Make `path` readable and writable by its owner only: created empty with 0600 if it
    does not exist yet (so it is never readable by others, not even briefly), else
    chmod-ed. A file owned by someone else is left as it is (chmod would be refused); a
    missing parent folder is left for whoever writes the file to report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        try:
            path.chmod(PRIVATE)
        except PermissionError:
            pass
    except FileNotFoundError:
        pass
    else:
        os.close(fd)
