"""Genotype values: presets, JSON round trip, and one-line errors for malformed input."""

from __future__ import annotations

import json

import pytest

from rapdarts.errors import RapdartsError
from rapdarts.space.genotype import Genotype, load_genotype, preset, preset_names


def test_presets_are_the_published_ones():
    assert set(preset_names()) == {"DARTS_V1", "DARTS_V2", "PDARTS"}
    pdarts = preset("PDARTS")
    assert pdarts.normal[:2] == (("skip_connect", 0), ("dil_conv_3x3", 1))
    assert pdarts.reduce_concat == (2, 3, 4, 5)


@pytest.mark.parametrize("name", preset_names())
def test_json_round_trip(name, tmp_path):
    genotype = preset(name)
    path = tmp_path / "g.json"
    path.write_text(genotype.to_json())
    assert load_genotype(path) == genotype
    assert Genotype.from_json(genotype.to_json()) == genotype
    assert hash(genotype) == hash(load_genotype(path))


def test_run_directory_and_preset_name_are_accepted(tmp_path):
    (tmp_path / "genotype.json").write_text(preset("DARTS_V2").to_json())
    assert load_genotype(tmp_path) == preset("DARTS_V2")
    assert load_genotype("DARTS_V2") == preset("DARTS_V2")


def _bad(mutate):
    data = preset("PDARTS").to_dict()
    mutate(data)
    return json.dumps(data)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (_bad(lambda d: d.pop("reduce")), "missing key 'reduce'"),
    (_bad(lambda d: d.update(extra=1)), "unknown key 'extra'"),
    (_bad(lambda d: d["normal"].__setitem__(0, ["conv_7x7", 0])), "unknown op 'conv_7x7'"),
    (_bad(lambda d: d["normal"].__setitem__(0, ["sep_conv_3x3", 2])), "node 2 reads node 2, which does not exist"),
    (_bad(lambda d: d["normal"].pop()), "7 edges"),
    (_bad(lambda d: d["reduce"].__setitem__(3, ["sep_conv_3x3"])), "edges must be \\[op, input\\] pairs"),
    (_bad(lambda d: d.update(normal_concat=[2, 9])), "normal_concat names node 9"),
])
def test_malformed_genotypes_get_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(RapdartsError, match=message) as info:
        load_genotype(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file_and_unknown_preset():
    with pytest.raises(RapdartsError, match="does not exist"):
        load_genotype("nowhere/genotype.json")
    with pytest.raises(RapdartsError, match="neither a genotype preset"):
        load_genotype("PDARTS_V9")
