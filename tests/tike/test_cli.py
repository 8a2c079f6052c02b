import orjson
import pytest

from tike.cli import main
from tike.decode import decode
from tike.events import EventBase
from tike.examples import EXAMPLES
from tike.topics import topics_table


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
