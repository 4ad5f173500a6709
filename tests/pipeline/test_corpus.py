"""Every class of broken input in the corpus: exit 2, the culprit named, no traceback,
nothing left behind and nothing lost."""

from __future__ import annotations

import pytest
from tests.pipeline.corpus import CORPUS, tree_digest

from mias.cli.main import main


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_input_is_refused_cleanly(name, hippo_nifti, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    broken = CORPUS[name](hippo_nifti, ws)
    before = tree_digest(ws)
    rc = main(list(broken.argv))
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "Fix:" in err, err
    assert broken.names in err, err
    gone = {str(p.relative_to(ws)) for p in broken.removed}
    expected = {k: v for k, v in before.items() if k.split("/")[0] not in gone}
    assert tree_digest(ws) == expected
