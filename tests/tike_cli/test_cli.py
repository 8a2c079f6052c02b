import orjson
import pytest

from tike.events import EventBase
from tike.examples import EXAMPLES
from tike.topics import topics_table
from tike_cli.cli import main
from tike_core.decode import decode


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_example_prints_an_event_the_decoder_accepts(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["example", kind]) == 0
    raw = capsys.readouterr().out.strip().encode()
    assert orjson.loads(raw)["kind"] == kind
    assert isinstance(decode(raw, kind, 65536), EventBase)


def test_unknown_example_kind_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["example", "weather"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_topics_table_lists_every_topic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics"]) == 0
    assert capsys.readouterr().out == topics_table()


@pytest.mark.parametrize(("text", "rate"), [("nationwide", 25.0), ("stress", 250.0), ("2.5", 2.5)])
def test_rate_takes_a_number_or_a_preset(text: str, rate: float) -> None:
    from tike_cli.cli import build_parser

    args = build_parser().parse_args(["loadtest", "--rate", text])
    assert args.rate == rate


@pytest.mark.parametrize("text", ["0", "-1", "national", "nan"])
def test_a_bad_rate_is_an_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--rate", text])
    assert exc.value.code == 2
    assert "rate must be" in capsys.readouterr().err


def test_replay_of_a_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "/nonexistent/rec.jsonl"]) == 2
    assert "tike replay:" in capsys.readouterr().err


def test_record_refuses_a_bad_time_window_before_touching_kafka(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["record", "--out", "x.jsonl", "--since", "1h", "--until", "2h"]) == 2
    assert "tike record: the window ends" in capsys.readouterr().err
    assert main(["record", "--out", "x.jsonl", "--duration", "soon"]) == 2
    assert "not a length of time" in capsys.readouterr().err


def test_record_help_defines_the_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["record", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--duration alone records the last DURATION (from now back)" in out
    assert "with --since it ends DURATION after --since" in out
