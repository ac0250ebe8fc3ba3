"""Pipeline rules on synthetic inputs: tracer decision, focal organ rule, stations, refusals."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.pipeline import (
    STATION_OFFSETS_MM,
    analyze_study,
    exclusion_mask,
    focal_organ_exclusion,
    resolve_tracer,
    site_kind,
    station_centres,
)
from theranostix.pet.reference_regions import PetCtAnatomy


@pytest.mark.parametrize("agent,key", [
    ("[68Ga]Ga-PSMA-11", "psma-ga68"), ("Ga68 PSMA-HBED-CC", "psma-ga68"),
    ("[18F]PSMA-1007", "psma-1007"), ("18F-DCFPyL", "psma-dcfpyl"), ("Piflufolastat F 18", "psma-dcfpyl"),
    ("Fluorodeoxyglucose", "fdg"), ("[68Ga]Ga-DOTA-TATE", "dotatate-ga68"),
])
def test_tracer_auto_from_radiopharmaceutical(agent, key):
    prov = Provenance()
    assert resolve_tracer("auto", agent, prov) == key
    assert agent in prov.parameters["tracer_decision"]


def test_tracer_refusals():
    with pytest.raises(InvalidInputError):
        resolve_tracer("auto", None, Provenance())
    with pytest.raises(InvalidInputError):
        resolve_tracer("auto", "Water O-15", Provenance())
    with pytest.raises(InvalidInputError):
        resolve_tracer("choline", None, Provenance())
    assert resolve_tracer("fdg", None, Provenance()) == "fdg"


def test_focal_rule_keeps_a_liver_lesion_and_excludes_normal_liver():
    rng = np.random.default_rng(0)
    suv = 6.0 + 0.5 * rng.standard_normal((40, 40, 40)).astype(np.float32)
    organ = np.zeros(suv.shape, bool)
    organ[5:35, 5:35, 5:35] = True
    suv[18:22, 18:22, 18:22] = 15.0  # a 4x4x4-voxel metastasis
    excl, info = focal_organ_exclusion(suv, organ, k=4.0)
    assert not excl[19:21, 19:21, 19:21].any()  # the lesion core stays
    assert excl[organ].mean() > 0.95  # the normal liver is excluded
    assert excl[4, 20, 20]  # one-voxel margin around the organ
    # analytic threshold: smoothed median + 4 robust SD; noise SD 0.5 smoothed by sigma 1 voxel
    assert 6.0 < info["threshold_suv"] < 6.0 + 4 * 0.5


def test_salivary_glands_get_the_focal_rule_for_fdg_and_are_whole_excluded_for_psma():
    """FDG: the glands' moderate physiological uptake (SUV ~2, peaks near the PERCIST threshold) is
    excluded by the focal rule, a focal lesion in the gland stays; PSMA: the gland goes whole."""
    rng = np.random.default_rng(3)
    arr = 0.5 + 0.05 * rng.standard_normal((30, 30, 30)).astype(np.float32)
    gland = np.zeros(arr.shape, bool)
    gland[8:20, 8:20, 8:20] = True
    arr[gland] = 2.0 + 0.3 * rng.standard_normal(int(gland.sum())).astype(np.float32)
    arr[12:15, 12:15, 12:15] = 9.0  # a metastasis in the gland
    img = Image(arr, spacing=(4.0, 4.0, 4.0), units="SUVbw")
    for tracer, rule in (("fdg", "smoothed SUV"), ("psma-ga68", "whole organ")):
        prov = Provenance()
        excl = exclusion_mask(img, {"submandibular_gland_right": gland}, tracer, prov)
        info = prov.parameters["physiological_exclusion"]["submandibular_gland_right"]
        assert info["rule"].startswith(rule)
        if tracer == "fdg":
            assert excl[gland].mean() > 0.9 and not excl[13, 13, 13]
        else:
            assert excl[gland].all()


def test_station_centres_follow_the_bladder():
    img = Image(np.zeros((60, 50, 50), np.float32), spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -900.0),
                units="SUVbw")
    bladder = np.zeros(img.shape, bool)
    bladder[10:14, 20:24, 23:27] = True  # centre index (i, j, k) = (24.5, 21.5, 11.5)
    prov = Provenance()
    anat = PetCtAnatomy.build(img, None)
    c = station_centres(img, {"urinary_bladder": bladder}, anat, prov)
    centre = img.index_to_world((24.5, 21.5, 11.5))
    off = STATION_OFFSETS_MM["obturator_left"][1]
    assert np.allclose(c["obturator_left"], centre + np.asarray(off))
    assert "mediastinal" not in c and any("landmarks not found" in w for w in prov.warnings)


def test_site_kind():
    assert site_kind("obturator_left") == "node"
    assert site_kind("bone") == "bone" and site_kind("liver") == "liver"
    assert site_kind("unassigned") == "unassigned" and site_kind("adrenal_gland_left") == "organ"


def _pet(shape=(30, 30, 30)):
    arr = np.full(shape, 1.0, np.float32)
    arr[14:17, 14:17, 14:17] = 12.0
    img = Image(arr, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw")
    return SimpleNamespace(image=img, administration=None, provenance=None, patient=None,
                           reference_time=None, suv_kind="bw")


def test_wrong_size_organ_arrays_are_refused():
    with pytest.raises(InvalidInputError, match="shape"):
        analyze_study(_pet(), None, tracer="psma-ga68", organ_masks={"liver": np.zeros((5, 5, 5), bool)})


def test_pet_only_runs_with_recorded_fallbacks():
    r = analyze_study(_pet(), None, tracer="psma-ga68")
    assert len(r.lesions.lesions) == 1 and r.lesions.lesions[0].suv_max == pytest.approx(12.0)
    assert any("without CT" in w for w in r.provenance.warnings)
    assert r.scores["mipsma"].get("refused")  # no reference regions without CT/masks
    assert r.eligibility["vision"].get("refused")


def test_ct_on_another_frame_is_refused():
    pet = _pet()
    pet.image = Image(pet.image.array, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw",
                      frame_of_reference_uid="1.2.3")
    ct = Image(np.full((30, 30, 30), -50.0, np.float32), spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0),
               units="HU", frame_of_reference_uid="1.2.4")
    with pytest.raises(InvalidInputError, match="frame of reference"):
        analyze_study(pet, ct, tracer="psma-ga68")


def _bladder_and_prostate(with_lesion: bool):
    """A hot bladder (SUV 40) with, just below it, a 12-mm prostate primary (SUV 12) or nothing,
    blurred by the 5-mm PSF on 4-mm voxels; organ masks for bladder and prostate."""
    from scipy import ndimage

    n = 40
    g = (np.arange(n) + 0.5) * 4.0
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    c = np.array([80.0, 80.0, 80.0])
    bladder = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2 <= 30.0 ** 2
    pc = c - np.array([0.0, 0.0, 38.0])
    prostate = (xx - pc[0]) ** 2 + (yy - pc[1]) ** 2 + (zz - pc[2]) ** 2 <= 14.0 ** 2
    lesion = (xx - pc[0]) ** 2 + (yy - pc[1]) ** 2 + (zz - pc[2] - 4.0) ** 2 <= 6.0 ** 2
    truth = np.full((n, n, n), 0.6, np.float32)
    truth[prostate] = 2.5
    truth[bladder] = 40.0
    if with_lesion:
        truth[lesion] = 12.0
    arr = ndimage.gaussian_filter(truth, (5.0 / 2.3548) / 4.0)
    img = Image(arr.astype(np.float32), spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw")
    pet = SimpleNamespace(image=img, administration=None, provenance=None, patient=None,
                          reference_time=None, suv_kind="bw")
    return pet, {"urinary_bladder": bladder, "prostate": prostate}, lesion


def test_prostate_primary_abutting_the_bladder_is_kept_and_bladder_tail_is_not_a_lesion():
    pet, masks, lesion = _bladder_and_prostate(with_lesion=True)
    r = analyze_study(pet, None, tracer="psma-ga68", organ_masks=masks)
    hits = [les for les in r.lesions.lesions if (r.labels.array == les.lesion_id)[lesion].any()]
    assert len(hits) == 1 and hits[0].site == "prostate"
    # without the primary, the bladder's PSF tail in the prostate gland is no lesion
    pet0, masks0, _ = _bladder_and_prostate(with_lesion=False)
    r0 = analyze_study(pet0, None, tracer="psma-ga68", organ_masks=masks0)
    assert r0.lesions.lesions == []


def test_contour_hosts_are_the_organs_then_bone_and_exclude_whole_excluded_organs():
    from theranostix.pet.pipeline import _contour_hosts, host_organ_labels

    shape = (6, 6, 6)
    prostate = np.zeros(shape, bool)
    prostate[1:3, 1:3, 1:3] = True
    kidney = np.zeros(shape, bool)
    kidney[4:, 4:, 4:] = True
    liver = np.zeros(shape, bool)
    liver[:2, 4:, :2] = True
    bone = np.zeros(shape, bool)
    bone[2:4, :, :] = True
    masks = {"prostate": prostate, "kidney_left": kidney, "liver": liver}
    host = _contour_hosts(masks, "psma-ga68", bone)
    assert host[1, 1, 1] > 0 and host[0, 4, 0] > 0 and host[1, 1, 1] != host[0, 4, 0]
    assert host[5, 5, 5] == 0  # kidney: excluded whole, never a host
    assert host[2, 1, 1] == host[1, 1, 1]  # organ mask wins over bone
    assert host[3, 5, 0] == host.max() and host.max() not in host[prostate | liver]  # bone elsewhere
    # the significance hosts leave out the focal-rule organs (liver) and keep the prostate
    sig = host_organ_labels(masks, "psma-ga68", focal_rule_organs=False)
    assert sig[1, 1, 1] > 0 and sig[0, 4, 0] == 0 and sig[5, 5, 5] == 0
    assert _contour_hosts({}, "psma-ga68", None) is None


def test_a_lesion_holding_a_detector_centre_is_exempt_from_the_spillover_rule():
    """A 2-voxel SUV >= 3 lesion on the flank of a hotter organ holds no local maximum of the
    smoothed image: removed as spill-over, unless an accepted detection is centred in it."""
    from scipy import ndimage

    from theranostix.pet.detection import Detection
    from theranostix.pet.metrics import lesion_table
    from theranostix.pet.pipeline import _postfilter
    from theranostix.pet.segmentation import LesionSegmentation
    from theranostix.pet.profiles import load_profile

    truth = np.full((24, 24, 24), 0.5, np.float32)
    truth[6:18, 6:18, 4:10] = 30.0  # hot organ (its voxels are no lesion)
    arr = ndimage.gaussian_filter(truth, (5.0 / 2.3548) / 4.0)
    img = Image(arr, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw")
    labels = np.zeros(arr.shape, np.int32)
    labels[12, 12:14, 10] = 1  # flank voxels just outside the organ, SUV > 3
    assert (arr[labels == 1] > 3).all()
    table = lesion_table(img, labels, methods={1: "threshold"})

    def run(detections):
        seg = LesionSegmentation(table=table, labels=img.with_array(labels, units="label"),
                                 detections=detections, profile=load_profile("psma-adaptive"))
        prov = Provenance()
        return _postfilter(seg, img, None, None, None, prov, organ_like=False,
                           excl=truth > 1.0), prov

    out, prov = run([])
    assert out.table.lesions == [] and prov.parameters["n_removed_spillover_no_local_max"] == 1
    det = Detection(index_kji=(12, 12, 10), position_lps_mm=(40.0, 48.0, 48.0), cnr=9.0,
                    contrast_suv=2.0, noise_sd_suv=0.2, background_suv=0.5, peak_suv=4.0,
                    tuned_diameter_mm=3.0, n_voxels=2)
    out, prov = run([det])
    assert len(out.table.lesions) == 1 and prov.parameters["n_spillover_exempt_detector_centre"] == 1


def test_detector_lesions_in_bone_must_stand_out_of_the_marrow():
    """A detector lesion at SUV 2.2 in marrow at 1.2 +- 0.3 is marrow variation (z ~ 3): removed
    in bone; the same lesion outside bone keeps the detector's own test."""
    from theranostix.pet.metrics import lesion_table
    from theranostix.pet.pipeline import _postfilter
    from theranostix.pet.profiles import load_profile
    from theranostix.pet.segmentation import LesionSegmentation

    rng = np.random.default_rng(2)
    arr = (1.2 + 0.3 * rng.standard_normal((24, 24, 24))).astype(np.float32)
    labels = np.zeros(arr.shape, np.int32)
    labels[12, 12, 12:14] = 1
    arr[labels == 1] = 2.2
    img = Image(arr, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw")
    bone = np.ones(arr.shape, bool)

    def run(bone_mask):
        rule = (lambda m, im: "bone") if bone_mask is not None else (lambda m, im: "obturator_left")
        table = lesion_table(img, labels, methods={1: "detector"}, site_rule=rule)
        seg = LesionSegmentation(table=table, labels=img.with_array(labels, units="label"),
                                 profile=load_profile("psma-adaptive"))
        return _postfilter(seg, img, None, None, rule, Provenance(), organ_like=False, bone=bone_mask)

    assert run(bone).table.lesions == []
    assert len(run(None).table.lesions) == 1
