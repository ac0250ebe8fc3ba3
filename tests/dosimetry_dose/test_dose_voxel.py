"""Voxel dose: LED analytic case, FFT == direct convolution, density weighting, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.dosimetry.kernels import VoxelKernel, compute_voxel_kernel
from theranostix.dosimetry.voxel import (
    KernelConvolver,
    density_from_hu,
    fft_convolve,
    kernel_convolution_dose,
    local_energy_deposition,
    voxel_absorbed_dose,
)


def test_led_analytic_facts():
    """FACTS.md: 1 MBq·h in 1 g -> 0.08532 Gy (Lu-177 electrons); all energy 0.10557 Gy."""
    tia = Image(np.ones((1, 1, 1)), spacing=(10.0, 10.0, 10.0), units="MBq*h")  # 1 mL
    d = local_energy_deposition(tia, "Lu-177", density=1.0).dose
    assert d.units == "Gy"
    assert d.array[0, 0, 0] == pytest.approx(0.08532, rel=2e-4)
    d_all = local_energy_deposition(tia, "Lu-177", density=1.0, include_photons=True).dose
    assert d_all.array[0, 0, 0] == pytest.approx(0.10557, rel=5e-4)
    # per-mL units and a density map
    tia2 = Image(np.full((2, 2, 2), 1.0), spacing=(10.0, 10.0, 10.0), units="MBq*h/mL")
    rho = tia2.with_array(np.full((2, 2, 2), 2.0), units="g/cm3")
    assert local_energy_deposition(tia2, "Lu-177", density=rho).dose.array.max() == pytest.approx(0.08532 / 2, rel=2e-4)


def test_fft_equals_direct_convolution():
    rng = np.random.default_rng(42)
    a = rng.random((18, 21, 16))
    k = rng.random((7, 5, 9))
    assert np.allclose(fft_convolve(a, k), ndimage.convolve(a, k, mode="constant"), rtol=1e-10, atol=1e-10)
    conv = KernelConvolver(a.shape, k)
    assert np.allclose(conv(a * 2), 2 * ndimage.convolve(a, k, mode="constant"), atol=1e-9)


def test_dvk_dose_uniform_large_region_approaches_led():
    """Deep inside a uniform region the DVK dose equals the electron LED dose plus absorbed photons."""
    k = compute_voxel_kernel("Lu-177", 4.0, half_width=5, include_photons=False)
    tia = Image(np.ones((21, 21, 21)), spacing=(4.0, 4.0, 4.0), units="MBq*h")
    dvk = kernel_convolution_dose(tia, k).dose.array[10, 10, 10]
    led = local_energy_deposition(tia, "Lu-177", density=k.density_g_cm3).dose.array[10, 10, 10]
    assert dvk == pytest.approx(led, rel=0.01)
    # density weighting: twice the density, half the dose
    rho = tia.with_array(np.full(tia.shape, 2 * k.density_g_cm3), units="g/cm3")
    assert kernel_convolution_dose(tia, k, density=rho).dose.array[10, 10, 10] == pytest.approx(dvk / 2, rel=1e-9)


def test_density_from_hu():
    ct = Image(np.array([[[-1000.0, 0.0, 40.0, 1500.0, 3000.0]]]), spacing=(1, 1, 1), units="HU")
    assert np.allclose(density_from_hu(ct).array.ravel(), [0.0012, 1.0, 1.03, 1.92, 1.92])


def test_voxel_bad_input():
    k = VoxelKernel(np.ones((3, 3, 3)), (4.0, 4.0, 4.0), "Lu-177", 1.03)
    tia = Image(np.ones((5, 5, 5)), spacing=(4.0, 4.0, 4.0), units="MBq*h")
    with pytest.raises(InvalidInputError):  # negative TIA
        local_energy_deposition(tia.with_array(-np.ones((5, 5, 5))), "Lu-177")
    with pytest.raises(InvalidInputError):  # unknown units
        local_energy_deposition(tia.with_array(np.ones((5, 5, 5)), units="SUVbw"), "Lu-177")
    with pytest.raises(InvalidInputError):  # shape mismatch of the density map
        local_energy_deposition(tia, "Lu-177", density=Image(np.ones((4, 5, 5)), spacing=(4, 4, 4)))
    with pytest.raises(InvalidInputError):  # kernel voxel size differs
        kernel_convolution_dose(Image(np.ones((5, 5, 5)), spacing=(2.0, 2.0, 2.0), units="MBq*h"), k)
    with pytest.raises(InvalidInputError):  # even kernel
        VoxelKernel(np.ones((4, 3, 3)), (4.0, 4.0, 4.0), "Lu-177", 1.03)
    with pytest.raises(InvalidInputError):
        KernelConvolver((5, 5, 5), np.ones((3, 3, 3)))(np.ones((4, 5, 5)))


def test_voxel_absorbed_dose_wrapper():
    tia = Image(np.zeros((9, 9, 9)), spacing=(4.0, 4.0, 4.0), units="MBq*h")
    tia.array[4, 4, 4] = 10.0
    ct = tia.with_array(np.zeros((9, 9, 9)), units="HU")  # water
    res = voxel_absorbed_dose(tia, "Lu-177", ct=ct, kernel_extent_mm=12.0)
    assert res.method == "DVK" and res.dose.units == "Gy"
    assert 0.8 < res.provenance.parameters["kernel_energy_fraction"] <= 1.0
    led = voxel_absorbed_dose(tia, "Lu-177", method="led", ct=ct).dose.array[4, 4, 4]
    assert res.dose.array[4, 4, 4] < led  # electrons partly leave the 4 mm source voxel
    with pytest.raises(InvalidInputError):
        voxel_absorbed_dose(tia, "Lu-177", method="monte-carlo")
