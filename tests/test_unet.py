import pytest
import torch
from pb2025_reference import SelfAttention
from pb2025_reference import Unet as PB2025Unet

from picodiff.models import PRESETS, UNet, UNetConfig, convert_pb2025_state_dict


@pytest.fixture(scope="module")
def pb2025_nets():
    return {c: UNet(UNetConfig.preset("pb2025", image_channels=c)) for c in (1, 3)}


@pytest.mark.parametrize("size", [64, 76, 80, 84])
@pytest.mark.parametrize("channels", [1, 3])
def test_pb2025_preset_output_shape(pb2025_nets, size, channels):
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        assert pb2025_nets[channels](x, torch.tensor([0, 999])).shape == x.shape


@pytest.mark.parametrize("size", [64, 76, 80, 84])
@pytest.mark.parametrize("channels", [1, 3])
def test_default_preset_output_shape(size, channels):
    net = UNet(UNetConfig.preset("small", image_channels=channels, image_size=size))
    x = torch.randn(1, channels, size, size)
    with torch.no_grad():
        assert net(x, torch.tensor([10])).shape == x.shape


def test_pb2025_preset_has_its_parameter_count():
    assert UNet(UNetConfig.preset("pb2025")).num_parameters() == 6_420_467
    assert sum(p.numel() for p in PB2025Unet(3).parameters()) == 6_420_467


def test_presets_build():
    for name in PRESETS:
        config = UNetConfig.preset(name)
        assert UNetConfig.from_dict(config.to_dict()) == config
    default = UNetConfig.preset("default")
    assert default.blocks_per_level >= 2 and default.norm_groups > 1
    assert default.attention_levels[0] is False and default.attention_levels[-1] is True


def test_bad_sizes_name_the_valid_ones():
    with pytest.raises(ValueError, match=r"image_size 70 is not divisible by 4.*68 and 72"):
        UNetConfig.preset("pb2025", image_size=70)
    with pytest.raises(ValueError, match="too small"):
        UNetConfig.preset("default", image_size=4)
    net = UNet(UNetConfig.preset("pb2025"))
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 3, 66, 66), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"expected images \[B, 3, H, W\]"):
        net(torch.randn(1, 1, 64, 64), torch.tensor([1]))


def test_bad_widths_are_explained():
    with pytest.raises(ValueError, match="not divisible by heads=4"):
        UNetConfig.preset("default", channels=(64, 128, 256, 250))
    with pytest.raises(ValueError, match="GroupNorm group count"):
        UNetConfig.preset("default", channels=(48, 96, 192, 192))
    with pytest.raises(ValueError, match="one entry per level"):
        UNetConfig.preset("default", attention_levels=(False, True))
    with pytest.raises(ValueError, match=r"up_channels\[0\]"):
        UNetConfig.preset("pb2025", up_channels=(128, 128, 64, 16))
    with pytest.raises(ValueError, match="image_channels must be 1 or 3"):
        UNetConfig.preset("default", image_channels=4)
    with pytest.raises(ValueError, match="unknown UNet preset 'huge'"):
        UNetConfig.preset("huge")
    with pytest.raises(ValueError, match="unknown UNetConfig field"):
        UNetConfig.from_dict({"image_sise": 64})


def test_same_seed_same_network_and_output():
    torch.manual_seed(0)
    a = UNet(UNetConfig.preset("tiny"))
    torch.manual_seed(0)
    b = UNet(UNetConfig.preset("tiny"))
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 400])
    assert torch.equal(a(x, t), b(x, t))
    assert not torch.equal(a(x, t), a(x, torch.tensor([4, 400])))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = UNet(UNetConfig.preset("tiny", dropout=0.0))
    ckpt = UNet(UNetConfig.preset("tiny", gradient_checkpointing=True))
    ckpt.load_state_dict(plain.state_dict())
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 400])
    for net in (plain, ckpt):
        net(x, t).square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name


@pytest.mark.parametrize("channels", [1, 3])
def test_converted_pb2025_weights_give_its_output(channels):
    """Our "pb2025" preset with converted weights equals the pb2025 network (re-stated with the
    pb2025 project's module names and nn.MultiheadAttention in tests/pb2025_reference.py)."""
    torch.manual_seed(channels)
    reference = PB2025Unet(channels).eval()
    state = reference.state_dict()
    ours = UNet(UNetConfig.preset("pb2025", image_channels=channels, image_size=84)).eval()
    ours.load_state_dict(convert_pb2025_state_dict(state))
    x, t = torch.randn(2, channels, 84, 84), torch.tensor([7, 812])
    with torch.no_grad():
        expected = reference(x, t)  # materialises the attention matrix, as the pb2025 project did
        got = ours(x, t)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    # a Lightning-style wrapper ("model." prefix) converts the same way
    wrapped = {f"model.{k}": v for k, v in state.items()}
    assert convert_pb2025_state_dict(wrapped).keys() == convert_pb2025_state_dict(state).keys()
    assert SelfAttention.need_weights  # the reference really used the pb2025 project's slow path


def test_converter_rejects_foreign_state_dicts():
    with pytest.raises(ValueError, match="not a pb2025 U-Net state dict"):
        convert_pb2025_state_dict({"fc.weight": torch.zeros(2, 2)})
