import numpy as np
import pytest

from mias.data.augment import AugmentParams, RandomAugment


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 8, 8, 6)).astype(np.float32)
    label = rng.integers(0, 3, size=(8, 8, 6)).astype(np.uint8)
    return image, label


def test_same_seed_same_output(case):
    aug = RandomAugment.for_shape((8, 8, 6), flip_prob=0.5, noise_prob=1.0)
    a = aug(*case, np.random.default_rng(42))
    b = aug(*case, np.random.default_rng(42))
    assert a[2] == b[2]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_different_seeds_draw_different_params():
    aug = RandomAugment.for_shape((8, 8, 6))
    draws = {aug.sample(np.random.default_rng(s)) for s in range(10)}
    assert len(draws) > 1


def test_replayed_params_give_the_same_output(case):
    aug = RandomAugment.for_shape((8, 8, 6), noise_prob=1.0, intensity_prob=1.0)
    out, lab, params = aug(*case, np.random.default_rng(7))
    replay = AugmentParams.from_dict(params.to_dict())
    assert replay == params
    out2, lab2 = RandomAugment.apply(replay, *case)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(lab, lab2)


def test_apply_flips_and_rotates_image_and_label_together(case):
    image, label = case
    params = AugmentParams(flip_axes=(0, 2), rot90_k=1, rot90_axes=(0, 1))
    out, lab = RandomAugment.apply(params, image, label)
    expected = np.rot90(np.flip(image, axis=(1, 3)), k=1, axes=(1, 2))
    np.testing.assert_allclose(out, expected)
    np.testing.assert_array_equal(lab, np.rot90(np.flip(label, axis=(0, 2)), k=1, axes=(0, 1)))
    assert lab.dtype == np.uint8


def test_intensity_and_noise_touch_only_the_image(case):
    image, label = case
    params = AugmentParams(intensity_scale=2.0, intensity_shift=1.0)
    out, lab = RandomAugment.apply(params, image, label)
    np.testing.assert_allclose(out, image * 2 + 1, rtol=1e-6)
    np.testing.assert_array_equal(lab, label)
    noisy, _ = RandomAugment.apply(AugmentParams(noise_std=0.1, noise_seed=3), image, None)
    assert 0.05 < float(np.std(noisy - image)) < 0.15


def test_rotation_is_limited_to_square_planes():
    assert RandomAugment.for_shape((8, 8, 6)).rot90_axes == (0, 1)
    assert RandomAugment.for_shape((6, 8, 8)).rot90_axes == (1, 2)
    aug = RandomAugment.for_shape((4, 6, 8), rot90_prob=1.0)
    assert aug.rot90_axes is None
    assert all(aug.sample(np.random.default_rng(s)).rot90_k == 0 for s in range(5))
