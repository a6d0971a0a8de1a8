"""Process settings: what `leadml.runtime.configure` gives a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys


def test_configure_puts_arrow_on_the_system_allocator():
    """Arrow's pool is chosen when pyarrow loads: configure() first gives the system one."""
    code = (
        "from leadml.runtime import configure; configure(); import pyarrow as pa; "
        "print(pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "system", done.stderr
