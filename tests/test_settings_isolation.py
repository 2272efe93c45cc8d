"""Each test sees settings read afresh from its own environment (the autouse ``fresh_settings``
fixture of tests/conftest.py): the two cases run one after the other in either order, and the
second fails if the first one's cached settings leaked into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.settings import get_settings


@pytest.mark.parametrize("case", ["one", "two"])
def test_settings_are_read_afresh_in_every_test(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert get_settings.cache_info().currsize == 0
    work_dir = tmp_path / case
    monkeypatch.setenv("SOCIALREC_WORK_DIR", str(work_dir))
    assert get_settings().work_dir == work_dir
