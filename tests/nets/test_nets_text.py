"""The sentence encoder (and its image encoder) and the text-conditional G and D."""

import pytest
import torch

from ganforge.errors import DataError
from ganforge.nets.text import (
    ImageEncoder,
    TextEncoder,
    Vocabulary,
    encoder_info,
    load_image_encoder,
    load_text_encoder,
    matching_loss,
    save_encoders,
)
from ganforge.nets.text2image import TextToImageDiscriminator, TextToImageGenerator


def test_vocabulary_pads_and_marks_unknown_words():
    v = Vocabulary.build(["a thin four", "a thick four", "a thin one"])
    assert v.words[:2] == ["a", "four"] and len(v) == len(v.words) + 2
    ids = v.encode(["a thin four", "zebra"])
    assert ids.shape == (2, 3) and ids[1].tolist() == [1, 0, 0]  # unknown, then padding


def test_text_encoder_gives_unit_embeddings_and_ignores_padding():
    enc = TextEncoder(["a", "thin", "four"], dim=16, emb=8, hidden=8)
    e = enc.encode(["a thin four", "four"])
    assert e.shape == (2, 16)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(2))
    padded = torch.tensor([[4, 0, 0]])  # "four" then padding
    torch.testing.assert_close(enc(padded), enc(torch.tensor([[4]])))


def test_shipped_encoder_places_paraphrases_together():
    enc = load_text_encoder()
    e = enc.encode(["a thick seven leaning right", "handwritten 7 with bold strokes, slanted to the right",
                    "a thin one leaning left"])
    assert float(e[0] @ e[1]) > float(e[0] @ e[2]) + 0.3
    info = encoder_info()
    assert info["retrieval"]["digit"] > 0.9 and info["seed"] == 0  # recorded by scripts/train_text_encoder.py
    img = load_image_encoder()
    assert img(torch.zeros(2, 1, 32, 32)).shape == (2, enc.dim)  # gray digits into the colour encoder


def test_matching_loss_prefers_matched_pairs_and_masks_same_meaning():
    a = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    assert float(matching_loss(a, a)) < float(matching_loss(a, a.roll(1, 0)))
    same = torch.eye(6, dtype=torch.bool) | torch.tensor([[i // 2 == j // 2 for j in range(6)] for i in range(6)])
    assert torch.isfinite(matching_loss(a, a, same=same))


def test_save_and_load_round_trip_and_bad_files(tmp_path):
    text, image = TextEncoder(["x", "y"], dim=8, emb=4, hidden=4), ImageEncoder(1, dim=8, width=4)
    save_encoders(tmp_path / "e.pt", text, image, note="test")
    back = load_text_encoder(tmp_path / "e.pt")
    torch.testing.assert_close(back.encode(["x y"]), text.eval().encode(["x y"]))
    assert encoder_info(tmp_path / "e.pt")["note"] == "test"
    with pytest.raises(DataError, match="not found"):
        load_text_encoder(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot be read"):
        load_text_encoder(tmp_path / "bad.pt")


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("ca", [False, True])
def test_text_conditional_networks_shapes(size, ca):
    G = TextToImageGenerator(z_dim=8, text_dim=16, proj_dim=4, size=size, channels=3, ngf=4, ca=ca)
    D = TextToImageDiscriminator(text_dim=16, proj_dim=4, size=size, channels=3, ndf=4, projection=ca)
    e = torch.nn.functional.normalize(torch.randn(5, 16), dim=1)
    x = G(torch.randn(5, 8), e)
    assert x.shape == (5, 3, size, size) and x.abs().max() <= 1
    assert D(x, e).shape == (5,)
    assert float(G.kl().detach()) >= 0
    with pytest.raises(ValueError, match=r"sentence embeddings e must have shape \(5, 16\)"):
        G(torch.randn(5, 8), e[:, :8])
