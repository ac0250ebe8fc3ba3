"""Chest wall and mediastinum of the twin anatomy as a CT-based pipeline sees them.

Real lungs are enclosed by the chest wall (skin/subcutaneous fat, intercostal muscle, ribs); the
ribs lie inside the body outline; the descending thoracic aorta is a round ~25 mm blood-density
structure in mediastinal fat, left-anterior of the spine. These are checked on the true HU map,
and through the project's CT-based anatomy (``pet.anatomy.ct_masks``,
``pet.reference_regions.blood_pool_reference``), which nobody on the twin side wrote.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

CASES = [("F", 1), ("M", 7)]


def _rib_mask(anat):
    rib = [v for v, n in anat.bone_part_names.items() if n == "rib"]
    assert rib, "no rib part"
    return anat.bone_parts.array == rib[0]


def _filled_body_per_slice(hu: np.ndarray) -> np.ndarray:
    """Dense tissue (HU > -500) with every axial slice's holes filled (lungs are -800 HU)."""
    dense = hu > -500.0
    return np.stack([ndi.binary_fill_holes(sl) for sl in dense])


def _thorax_slab(anat, margin: int = 6) -> slice:
    """Axial slices holding lung or rib, plus a margin (keeps the tests fast)."""
    ks = np.flatnonzero((anat.mask("lung_left", "lung_right") | _rib_mask(anat)).any(axis=(1, 2)))
    return slice(max(int(ks.min()) - margin, 0), int(ks.max()) + margin + 1)


_CHEST: dict = {}


def _chest(anat):
    """Thorax slab of a (cached, read-only) twin: labels, lung and rib masks, filled body, depth."""
    key = (anat.sex, anat.seed, anat.labels.spacing)
    if key not in _CHEST:
        _CHEST[key] = _chest_slab(anat)
    return _CHEST[key]


def _chest_slab(anat):
    sl = _thorax_slab(anat)
    lab = anat.labels.array[sl]
    lung = anat.mask("lung_left", "lung_right")[sl]
    rib = _rib_mask(anat)[sl]
    filled = _filled_body_per_slice(anat.hu.array[sl])
    outside = np.pad(lab == 0, ((1, 1), (0, 0), (0, 0)), constant_values=False)
    # depth below the skin; the slab's end faces are not air (the body continues)
    d_air = ndi.distance_transform_edt(~outside, sampling=anat.labels.spacing[::-1])[1:-1]
    return lab, lung, rib, filled, d_air


@pytest.mark.parametrize("sex,seed", CASES)
def test_lungs_enclosed_by_chest_wall(sex, seed, anatomy_of):
    lab, lung, _, filled, d_air = _chest(anatomy_of(sex, seed))
    assert lung.sum() > 0
    # every lung voxel is enclosed in its axial slice by tissue denser than -500 HU
    assert filled[lung].mean() == 1.0
    # ... and in 3-D: no lung voxel touches the air outside the body
    assert not (lung & ndi.binary_dilation(lab == 0)).any()
    # the wall is at least 8 mm thick everywhere (skin/fat + muscle; measured minimum 8.9 mm)
    assert d_air[lung].min() >= 8.0
    assert np.percentile(d_air[lung], 1) >= 15.0


@pytest.mark.parametrize("sex,seed", CASES)
def test_ribs_inside_body_outline_and_outside_lungs(sex, seed, anatomy_of):
    anat = anatomy_of(sex, seed)
    _, lung, rib, filled, d_air = _chest(anat)
    assert rib.sum() * anat.labels.voxel_volume_ml > 50  # 24 ribs present
    assert filled[rib].mean() == 1.0  # inside the body outline in every slice
    assert d_air[rib].min() >= 4.0  # under the subcutaneous fat, never at the skin
    assert not (rib & lung).any()


def _descending_aorta_slices(anat):
    """Per thoracic slice (middle half of the lungs' z extent): the most posterior aorta section."""
    lung = anat.mask("lung_left", "lung_right")
    aorta = anat.mask("blood_pool")
    ks = np.flatnonzero(lung.any(axis=(1, 2)))
    k0, k1 = int(ks.min()), int(ks.max())
    for k in range(int(k0 + 0.25 * (k1 - k0)), int(k0 + 0.75 * (k1 - k0)) + 1):
        cc, n = ndi.label(aorta[k])
        if n == 0:
            continue
        centres = ndi.center_of_mass(aorta[k], cc, range(1, n + 1))
        comp = cc == 1 + int(np.argmax([c[0] for c in centres]))  # +y = posterior
        yield k, comp


@pytest.mark.parametrize("sex,seed", CASES)
def test_descending_aorta_round_and_surrounded_by_fat(sex, seed, anatomy_of):
    anat = anatomy_of(sex, seed)
    hu, sp = anat.hu.array, anat.labels.spacing[0]
    ids = anat.ids
    fat_lung_air = np.isin(anat.labels.array, [ids[n] for n in
                                               ("fat", "lung_left", "lung_right", "airway")])
    spine = anat.bone_parts.array > 0
    n_ok = 0
    for k, comp in _descending_aorta_slices(anat):
        diam = 2.0 * np.sqrt(comp.sum() * sp * sp / np.pi)
        if diam > 32.0:  # the arch, cut obliquely
            continue
        assert 18.0 <= diam <= 30.0, (k, diam)
        assert np.all(hu[k][comp] == 40.0)  # blood
        # left-anterior of the spine: left of the midline, centre in front of the vertebral body
        jj, ii = np.nonzero(comp)
        ctr = anat.labels.index_to_world((ii.mean(), jj.mean(), k))
        assert 5.0 < ctr[0] < 50.0
        ring = ndi.binary_dilation(comp, iterations=2) & ~comp  # 0-4 mm around the wall
        ring_fat = fat_lung_air[k][ring].mean()
        ring_soft = np.mean((hu[k][ring] > -90.0) & (hu[k][ring] < 200.0) & ~spine[k][ring])
        assert ring_fat >= 0.75, (k, ring_fat)  # mediastinal fat (and lung) around the aorta
        assert np.mean(hu[k][ring] == -100.0) >= 0.5
        assert ring_soft <= 0.15, (k, ring_soft)
        n_ok += 1
    assert n_ok >= 10  # at least 20 mm of straight descending aorta at thoracic levels


def test_mediastinum_is_fat_not_soft_tissue(male):
    """The space between the lungs not taken by organs is fat (-100 HU), not 35 HU soft tissue."""
    lung = male.mask("lung_left", "lung_right")
    ks = np.flatnonzero(lung.any(axis=(1, 2)))
    body = male.mask("body")
    assert not body[ks.min():ks.max() + 1].any()  # no generic soft tissue left in the chest
    lab = male.labels.array
    n_fat = n_tissue = 0
    for k in ks[len(ks) // 4: 3 * len(ks) // 4]:
        right = np.flatnonzero((lab[k] == male.ids["lung_right"]).any(axis=0))
        left = np.flatnonzero((lab[k] == male.ids["lung_left"]).any(axis=0))
        if right.size == 0 or left.size == 0:
            continue
        between = lab[k][:, right.max() + 1:left.min()]  # columns between the lungs (x)
        n_fat += int((between == male.ids["fat"]).sum())
        n_tissue += int((between > 0).sum())
    assert n_tissue > 0 and n_fat / n_tissue > 0.25  # rest: heart, aorta, spine, airway, wall


@pytest.mark.parametrize("sex,seed", [("M", 7)])  # the seed of the problem report
def test_ct_pipeline_finds_lungs_and_blood_pool(sex, seed, anatomy_of):
    """The project's CT masks and PERCIST blood pool work on the twin's true HU map."""
    from theranostix.core.image import Image
    from theranostix.pet.anatomy import ct_masks
    from theranostix.pet.reference_regions import blood_pool_reference
    from theranostix.twin.truth import build_disease, tracer_suv_map

    anat = anatomy_of(sex, seed)
    sl = _thorax_slab(anat, margin=15)  # a chest CT field of view (keeps the test fast)
    origin = anat.hu.index_to_world((0, 0, sl.start))

    def crop(img, arr):
        return Image(np.ascontiguousarray(arr[sl]), img.spacing, tuple(float(v) for v in origin),
                     units=img.units)

    ct = crop(anat.hu, anat.hu.array)
    masks = ct_masks(ct)
    assert masks.warnings == []  # no convex-hull lung fallback
    lung = anat.mask("lung_left", "lung_right")[sl]
    assert (masks.lungs & lung).sum() / lung.sum() > 0.99
    assert abs(masks.lungs.sum() / lung.sum() - 1.0) < 0.05  # + trachea/bronchi
    assert not (_rib_mask(anat)[sl] & ~masks.body).any()
    dis = build_disease(anat, "nodal", seed=seed)
    suv_full, used = tracer_suv_map(anat, dis, "psma-ga68", seed=seed)
    suv = crop(suv_full, suv_full.array)
    bp = blood_pool_reference(suv, ct)
    assert bp.found, bp.reason
    cyl = bp.mask
    assert cyl is not None and cyl.sum() > 0
    assert np.all(anat.labels.array[sl][cyl] == anat.ids["blood_pool"])
    assert bp.statistics.mean == pytest.approx(used["blood_pool"], rel=1e-5)
    assert 8.0 <= bp.geometry["aorta_radius_mm"] <= 15.0
