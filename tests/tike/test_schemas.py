from pathlib import Path

from tike.schemas import all_schemas
from tike_cli.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_models() -> None:
    for name, data in all_schemas().items():
        path = ROOT / "docs" / "schemas" / name
        assert path.is_file(), f"missing {path}: run `make schemas`"
        assert path.read_bytes() == data, f"{path} drifted from the model: run `make schemas`"


def test_schema_check_command_detects_drift(tmp_path: Path) -> None:
    assert main(["schemas", "--write", str(tmp_path)]) == 0
    assert main(["schemas", "--check", str(tmp_path)]) == 0
    (tmp_path / "safety_alarm.json").write_text("{}")
    assert main(["schemas", "--check", str(tmp_path)]) == 1
