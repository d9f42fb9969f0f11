"""The public surface is curated: everything in ``octollm.__all__`` resolves, and importing
the package pulls in no I/O framework."""

import subprocess
import sys

import octollm


def test_all_names_in_dunder_all_exist() -> None:
    for name in octollm.__all__:
        assert getattr(octollm, name) is not None, name


def test_dir_lists_exactly_the_public_surface() -> None:
    assert sorted(dir(octollm)) == sorted(octollm.__all__)


def test_importing_the_package_and_its_contracts_stays_light() -> None:
    code = (
        "import sys, octollm; octollm.TaskContract; octollm.Arm; "
        "print(','.join(m for m in ('celery', 'sqlalchemy', 'redis', 'fastapi', 'httpx') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
