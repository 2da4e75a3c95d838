import pytest
import torch

from lsa_utils.data.canvas import natural_photographs, place_on_canvas


def images(n=6, c=1, h=5, w=4, value=7.0):
    return torch.full((n, c, h, w), value)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_background_and_exact_paste():
    canvas, pos = place_on_canvas(images(200), 20, "gaussian", noise_std=1.5, generator=seeded())
    assert canvas.shape == (200, 1, 20, 20) and pos.shape == (200, 2)
    mask = torch.ones_like(canvas, dtype=torch.bool)
    for i, (r, c) in enumerate(pos.tolist()):
        assert torch.all(canvas[i, :, r:r + 5, c:c + 4] == 7.0)
        mask[i, :, r:r + 5, c:c + 4] = False
    background = canvas[mask]
    assert float(background.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(background.std()) == pytest.approx(1.5, rel=0.02)
    assert 0 <= int(pos[:, 0].min()) and int(pos[:, 0].max()) == 15 and int(pos[:, 1].max()) == 16


def test_same_seed_same_canvases_other_seed_other_canvases():
    a, pa = place_on_canvas(images(), 12, generator=seeded(1))
    b, pb = place_on_canvas(images(), 12, generator=seeded(1))
    c, _ = place_on_canvas(images(), 12, generator=seeded(2))
    assert torch.equal(a, b) and torch.equal(pa, pb) and not torch.equal(a, c)


def test_zero_noise_gives_a_black_canvas():
    canvas, _ = place_on_canvas(images(3), 9, noise_std=0.0, location="fixed", generator=seeded())
    assert float(canvas.sum()) == pytest.approx(3 * 5 * 4 * 7.0)


def test_locations():
    _, pos = place_on_canvas(images(100), (10, 12), location="random_corner", generator=seeded())
    assert set(map(tuple, pos.tolist())) == {(0, 0), (0, 8), (5, 0), (5, 8)}
    _, pos = place_on_canvas(images(2), (10, 12), location="fixed")
    assert pos.tolist() == [[2, 4], [2, 4]]
    _, pos = place_on_canvas(images(2), 10, location=(1, 3))
    assert pos.tolist() == [[1, 3], [1, 3]]


def test_photo_background_is_a_crop_of_a_photograph():
    pytest.importorskip("skimage", reason="the photographs ship with scikit-image (the [experiments] extra)")
    canvas, pos = place_on_canvas(images(4, c=3), 16, "photo", noise_std=1.0, location=(0, 0), generator=seeded())
    assert 0.0 <= float(canvas.min()) and float(canvas.max()) <= 7.0
    photos = [torch.from_numpy(p).permute(2, 0, 1) for p in natural_photographs()]
    crop = canvas[0, :, 5:, 4:]  # a piece of background, away from the pasted image

    def holds_crop(p):
        corner = (p[:, 5:p.shape[1] - 10, 4:p.shape[2] - 11] - crop[:, :1, :1]).abs().amax(0) < 1e-6
        return any(torch.allclose(p[:, r + 5:r + 16, c + 4:c + 16], crop) for r, c in corner.nonzero().tolist())

    assert any(holds_crop(p) for p in photos)
    assert len(photos) == 20 and min(min(p.shape[1:]) for p in photos) >= 100  # every photograph of the wheel
    grey, _ = place_on_canvas(images(2, c=1), 16, "photo", generator=seeded())
    assert grey.shape == (2, 1, 16, 16)


def test_tiles_background_is_made_of_the_given_tiles():
    tiles = torch.arange(4.0)[:, None, None, None].expand(4, 1, 3, 3) + 10  # tile k is constant 10+k
    canvas, _ = place_on_canvas(images(5, h=2, w=2), 9, "tiles", noise_std=1.0, location=(0, 0), tiles=tiles,
                                generator=seeded())
    for i in range(5):
        for r in (1, 2):  # each 3x3 block of the grid is one tile (block (0,0) holds the image)
            for c in (1, 2):
                block = canvas[i, 0, 3 * r:3 * r + 3, 3 * c:3 * c + 3]
                assert torch.all(block == block[0, 0]) and 10 <= float(block[0, 0]) <= 13


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"canvas_size=\(4, 4\) is not allowed"):
        place_on_canvas(images(), 4)
    with pytest.raises(ValueError, match="background='imagenet' is not allowed"):
        place_on_canvas(images(), 12, "imagenet")
    with pytest.raises(ValueError, match="location='middle' is not allowed"):
        place_on_canvas(images(), 12, location="middle")
    with pytest.raises(ValueError, match=r"location=\(9, 0\) is not allowed"):
        place_on_canvas(images(), 12, location=(9, 0))
    with pytest.raises(ValueError, match="tiles must have shape"):
        place_on_canvas(images(), 12, "tiles")
    with pytest.raises(ValueError, match="noise_std=-1"):
        place_on_canvas(images(), 12, noise_std=-1)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, h, w\)"):
        place_on_canvas(torch.zeros(5, 5), 12)
