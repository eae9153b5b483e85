"""Every pixel mode PIL opens becomes the RGB image a person would see, from real files on disk."""

import numpy as np
import pytest
from PIL import Image

from litcls.data.decode import load_rgb
from litcls.data.transforms import Preprocessing, eval_transform


def saved(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return path


def test_palette_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (4, 2))
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.putdata([0, 0, 1, 1, 0, 0, 1, 1])
    path = saved(image, tmp_path / "palette.png", transparency=0)
    rgb = load_rgb(path)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [255, 255, 255]  # transparent index: white, not the palette's black
    assert rgb[0, 2].tolist() == [0, 200, 0]


@pytest.mark.parametrize("mode, opaque, transparent, expected_opaque", [
    ("LA", (100, 255), (100, 0), [100, 100, 100]),
    ("RGBA", (200, 10, 10, 255), (200, 10, 10, 0), [200, 10, 10]),
])
def test_alpha_is_composited_on_white(tmp_path, mode, opaque, transparent, expected_opaque):
    image = Image.new(mode, (2, 1))
    image.putpixel((0, 0), opaque)
    image.putpixel((1, 0), transparent)
    rgb = load_rgb(saved(image, tmp_path / "alpha.png"))
    assert rgb[0, 0].tolist() == expected_opaque
    assert rgb[0, 1].tolist() == [255, 255, 255]


def test_half_transparent_red_is_pink(tmp_path):
    rgb = load_rgb(saved(Image.new("RGBA", (1, 1), (255, 0, 0, 128)), tmp_path / "pink.png"))
    assert rgb[0, 0].tolist() == pytest.approx([255, 127, 127], abs=1)


def test_cmyk_is_converted(tmp_path):
    rgb = load_rgb(saved(Image.new("CMYK", (3, 3), (0, 255, 255, 0)), tmp_path / "cmyk.tif"))
    assert rgb[1, 1].tolist() == [255, 0, 0]


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    pixels = np.array([[0, 1024, 2048, 4095]], dtype=np.uint16)  # a 12-bit sensor in a 16-bit PNG
    path = saved(Image.fromarray(pixels), tmp_path / "xray.png")
    with Image.open(path) as image:
        assert image.mode.startswith("I")
        assert np.asarray(image.convert("RGB"))[0, :, 0].tolist() == [0, 255, 255, 255]  # what PIL alone does
    rgb = load_rgb(path)
    assert rgb[0, :, 0].tolist() == [0, 64, 128, 255]
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


@pytest.mark.parametrize("pixels", [
    np.array([[-1000, 0, 1000]], dtype=np.int32),
    np.array([[0.0, 0.5, 1.0]], dtype=np.float32),
])
def test_32_bit_integer_and_float_greyscale_are_scaled(tmp_path, pixels):
    path = saved(Image.fromarray(pixels), tmp_path / "deep.tif")
    with Image.open(path) as image:
        assert image.mode in ("I", "F")
    assert load_rgb(path)[0, :, 0].tolist() == [0, 128, 255]


def test_constant_and_nan_float_images_do_not_break(tmp_path):
    flat = load_rgb(saved(Image.fromarray(np.full((2, 2), 7.0, dtype=np.float32)), tmp_path / "flat.tif"))
    assert flat.shape == (2, 2, 3) and (flat == 0).all()
    nan = load_rgb(saved(Image.fromarray(np.array([[np.nan, 1.0]], dtype=np.float32)), tmp_path / "nan.tif"))
    assert nan[0, :, 0].tolist() == [0, 255]


def test_one_bit_images_are_black_and_white(tmp_path):
    image = Image.new("1", (2, 1))
    image.putpixel((1, 0), 1)
    assert load_rgb(saved(image, tmp_path / "bits.png"))[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((4, 8, 3), dtype=np.uint8)
    pixels[:, :4] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rgb = load_rgb(saved(Image.fromarray(pixels), tmp_path / "phone.png", exif=exif))
    assert rgb.shape == (8, 4, 3)
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[-1, 0].tolist() == [0, 0, 0]  # red is on top now


@pytest.mark.parametrize("size", [(1, 1), (1, 300), (300, 1), (2000, 3)])
def test_tiny_and_extreme_aspect_images_reach_the_model_size(tmp_path, size):
    path = saved(Image.new("RGB", size, (10, 20, 30)), tmp_path / "odd.png")
    tensor = eval_transform(Preprocessing(img_size=16))(image=load_rgb(path))["image"]
    assert tuple(tensor.shape) == (3, 16, 16)


def test_large_jpegs_decode_at_a_reduced_scale_no_smaller_than_asked(tmp_path):
    yy, xx = np.mgrid[0:1200, 0:1600]
    pixels = np.stack([(xx // 7) % 256, (yy // 5) % 256, ((xx + yy) // 9) % 256], axis=-1).astype(np.uint8)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(photo, quality=92)
    full, reduced = load_rgb(photo), load_rgb(photo, min_size=224)
    assert full.shape == (1200, 1600, 3)
    assert reduced.shape == (300, 400, 3)  # 1/4 scale; 1/8 would be under 224 px
    shrunk = np.asarray(Image.fromarray(full).resize((400, 300), Image.Resampling.BOX))
    assert np.abs(reduced.astype(int) - shrunk).mean() < 4  # the same picture, averaged
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees, as phones save portrait photos
    Image.fromarray(pixels).save(tmp_path / "portrait.jpg", exif=exif)
    assert load_rgb(tmp_path / "portrait.jpg", min_size=224).shape == (400, 300, 3)
    png = tmp_path / "photo.png"
    Image.fromarray(pixels).save(png)
    assert load_rgb(png, min_size=224).shape == (1200, 1600, 3)  # only JPEG decodes at reduced scale
